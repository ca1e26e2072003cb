package catalog

// The catalog's wire format: what the YAML files under data/ (and a user's
// --catalog directory) decode into. Nothing outside this package sees these
// types; compile.go turns them into the model.

type wireCatalog struct {
	Version     string              `yaml:"version"`
	Documents   map[string]wireDoc  `yaml:"documents"`
	M365        map[string]wireM365 `yaml:"m365"`
	ServiceTags map[string]wireTags `yaml:"service_tags"`
	AddressSets map[string]wireSet  `yaml:"address_sets"`
}

type wireDoc struct {
	Title string `yaml:"title"`
	File  string `yaml:"file"`
}

type wireM365 struct {
	File     string `yaml:"file"`
	Instance string `yaml:"instance"`
	// Version is the web service's data version (YYYYMMDDNN), when known.
	Version string `yaml:"version"`
	// Date is the day the data was published or retrieved (YYYY-MM-DD).
	Date string `yaml:"date"`
	// Source says where the copy came from (a URL, a file name, a
	// transcription), for catalog list.
	Source string `yaml:"source"`
}

// wireTags is an Azure service tags file the catalog carries, keyed in
// catalog.yaml by the file's cloud ("Public", "AzureGovernment").
type wireTags struct {
	File         string `yaml:"file"`
	ChangeNumber int    `yaml:"change_number"`
	Date         string `yaml:"date"`
	Source       string `yaml:"source"`
}

type wireSet struct {
	Description string                  `yaml:"description"`
	Values      map[string]wireSetValue `yaml:"values"`
}

type wireSetValue struct {
	Prefixes  []string      `yaml:"prefixes"`
	Hosts     []string      `yaml:"hosts"`
	FromM365  *wireFromM365 `yaml:"from_m365"`
	Reference *wireRef      `yaml:"reference"`
	Status    string        `yaml:"status"`
	Note      string        `yaml:"note"`
}

type wireFromM365 struct {
	ServiceArea string   `yaml:"service_area"`
	Categories  []string `yaml:"categories"`
}

type wireRef struct {
	Doc     string `yaml:"doc"`
	Section string `yaml:"section"`
	Row     string `yaml:"row"`
}

type wireIntegration struct {
	Integration string               `yaml:"integration"`
	Title       string               `yaml:"title"`
	Document    string               `yaml:"document"`
	Description string               `yaml:"description"`
	Roles       map[string]wireRole  `yaml:"roles"`
	Parameters  map[string]wireParam `yaml:"parameters"`
	Defaults    *wireFlow            `yaml:"defaults"`
	Flows       []wireFlow           `yaml:"flows"`
}

type wireRole struct {
	Description string        `yaml:"description"`
	Default     *wireEndpoint `yaml:"default"`
	DefaultNote string        `yaml:"default_note"`
}

type wireParam struct {
	Type        string   `yaml:"type"`
	Default     any      `yaml:"default"`
	Values      []string `yaml:"values"`
	MinPorts    int      `yaml:"min_ports"`
	Description string   `yaml:"description"`
	// Warn maps a value of the parameter to a planning warning.
	Warn map[string]string `yaml:"warn"`
}

type wireFlow struct {
	ID           string        `yaml:"id"`
	From         *wireEndpoint `yaml:"from"`
	To           *wireEndpoint `yaml:"to"`
	SourcePorts  *string       `yaml:"source_ports"`
	Ports        *string       `yaml:"ports"`
	Proto        *string       `yaml:"proto"`
	App          *string       `yaml:"app"`
	Action       string        `yaml:"action"`
	When         string        `yaml:"when"`
	Clouds       []string      `yaml:"clouds"`
	Required     *bool         `yaml:"required"`
	Purpose      string        `yaml:"purpose"`
	Notes        string        `yaml:"notes"`
	Status       string        `yaml:"status"`
	StatusReason string        `yaml:"status_reason"`
	Requirements []string      `yaml:"requirements"`
	Reference    *wireRef      `yaml:"reference"`
	// Hints carry what a vendor fixes for one target, e.g. the priority
	// of the Pexip NSG's "RDP" rule.
	Hints map[string]string `yaml:"hints"`
}

type wireEndpoint struct {
	Any        bool          `yaml:"any"`
	Internet   bool          `yaml:"internet"` // the public Internet (model.EndpointInternet)
	Role       string        `yaml:"role"`
	Set        string        `yaml:"set"`
	Hosts      []string      `yaml:"hosts"`
	ServiceTag string        `yaml:"service_tag"`
	M365       string        `yaml:"m365"`
	Narrow     *wireEndpoint `yaml:"narrow"`
	NarrowWhen string        `yaml:"narrow_when"`
}
