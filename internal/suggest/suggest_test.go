package suggest

import "testing"

func TestClosest(t *testing.T) {
	targets := []string{"nftables", "iptables", "azure-nsg", "azure-firewall", "aws-sg", "kubernetes", "squid", "pac"}
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "one letter missing", in: "nftable", want: "nftables"},
		{name: "transposed", in: "iptalbes", want: "iptables"},
		{name: "case", in: "NFTables", want: "nftables"},
		{name: "unique prefix", in: "kube", want: "kubernetes"},
		{name: "ambiguous prefix", in: "azure", want: ""},
		{name: "nothing close", in: "cisco-asa", want: ""},
		{name: "short name, one edit", in: "pak", want: "pac"},
		{name: "empty", in: "", want: ""},
		{name: "short transposition", in: "pca", want: "pac"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Closest(tt.in, targets); got != tt.want {
				t.Errorf("Closest(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestHint(t *testing.T) {
	if got := Hint("teams-messaging-bto", []string{"teams-messaging-bot", "teams-calling-bot"}); got != ` (did you mean "teams-messaging-bot"?)` {
		t.Errorf("Hint = %q", got)
	}
	if got := Hint("zzz", []string{"teams-messaging-bot"}); got != "" {
		t.Errorf("Hint for nothing close = %q", got)
	}
}
