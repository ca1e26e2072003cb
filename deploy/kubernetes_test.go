package deploy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/teamsgate/teamsgate/internal/cli"
	"github.com/teamsgate/teamsgate/internal/testutil"
)

// build runs kustomize (the kustomize/api library kubectl apply -k uses) on
// a directory.
func build(t *testing.T, dir string) []byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// strict decodes an object into its official type, refusing any field the
// type does not have.
func strict(t *testing.T, doc []byte, into any) {
	t.Helper()
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		t.Fatalf("%T: %v\n%s", into, err, doc)
	}
}

// TestKustomize: the base and the example overlay build, their output is
// the golden files', and every object decodes strictly into the
// k8s.io/api types, with the properties the deployment relies on.
func TestKustomize(t *testing.T) {
	for _, tc := range []struct{ dir, golden string }{
		{"kubernetes", "testdata/kubernetes.yaml"},
		{"kubernetes-example", "testdata/kubernetes-example.yaml"},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			out := build(t, tc.dir)
			testutil.Golden(t, tc.golden, out)
			kinds := map[string]int{}
			for _, doc := range bytes.Split(out, []byte("\n---\n")) {
				var meta struct{ Kind string }
				if err := yaml.Unmarshal(doc, &meta); err != nil {
					t.Fatal(err)
				}
				kinds[meta.Kind]++
				switch meta.Kind {
				case "Deployment":
					var d appsv1.Deployment
					strict(t, doc, &d)
					checkDeployment(t, &d, tc.dir)
				case "Service":
					var s corev1.Service
					strict(t, doc, &s)
					if s.Spec.Type != corev1.ServiceTypeLoadBalancer || s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
						t.Errorf("Service: type %s, externalTrafficPolicy %s; the gateway must see the clients' addresses", s.Spec.Type, s.Spec.ExternalTrafficPolicy)
					}
				case "PodDisruptionBudget":
					var p policyv1.PodDisruptionBudget
					strict(t, doc, &p)
				case "HorizontalPodAutoscaler":
					var h autoscalingv2.HorizontalPodAutoscaler
					strict(t, doc, &h)
					if h.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU || *h.Spec.MinReplicas < 2 {
						t.Errorf("HPA: %+v", h.Spec)
					}
				case "NetworkPolicy":
					var n networkingv1.NetworkPolicy
					strict(t, doc, &n)
				case "ConfigMap":
					var c corev1.ConfigMap
					strict(t, doc, &c)
					if c.Name != "teamsgate-spec" || c.Data["deploy.yaml"] == "" {
						t.Errorf("ConfigMap %s: %v", c.Name, c.Data)
					}
				default:
					t.Errorf("unexpected kind %q", meta.Kind)
				}
			}
			for _, k := range []string{"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy", "ConfigMap"} {
				if kinds[k] != 1 {
					t.Errorf("%d %s objects, want 1", kinds[k], k)
				}
			}
		})
	}
}

func checkDeployment(t *testing.T, d *appsv1.Deployment, dir string) {
	t.Helper()
	want := int32(2)
	if dir == "kubernetes-example" {
		want = 3
	}
	if *d.Spec.Replicas != want {
		t.Errorf("replicas %d, want %d", *d.Spec.Replicas, want)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	sc, psc := c.SecurityContext, pod.SecurityContext
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || *psc.RunAsUser != 65532 || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation ||
		len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 {
		t.Errorf("security context: pod %+v, container %+v", psc, sc)
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes: %+v %+v", c.ReadinessProbe, c.LivenessProbe)
	}
	if c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds < 1 {
		t.Errorf("preStop: %+v", c.Lifecycle.PreStop)
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds < c.Lifecycle.PreStop.Sleep.Seconds+35 {
		t.Errorf("terminationGracePeriodSeconds %v: shorter than preStop and the gateway's drain", pod.TerminationGracePeriodSeconds)
	}
	if strings.Join(c.Args, " ") != "serve /etc/teamsgate/deploy.yaml --watch 10s" {
		t.Errorf("args %v", c.Args)
	}
	for _, m := range c.VolumeMounts {
		if m.SubPath != "" {
			t.Errorf("volume %s mounted with subPath: kubelet would not update it", m.Name)
		}
	}
}

// TestKubernetesSpec: the spec in the ConfigMap passes serve --check once
// the Secrets' files are there, and bot-policy/ is what render --target
// kubernetes writes for it today.
func TestKubernetesSpec(t *testing.T) {
	dir := t.TempDir()
	spec, err := os.ReadFile(filepath.Join("kubernetes", "deploy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "deploy.yaml"), spec, 0o644)
	os.MkdirAll(filepath.Join(dir, "tls"), 0o755)
	os.MkdirAll(filepath.Join(dir, "admin"), 0o755)
	certPEM, keyPEM := selfSigned(t)
	os.WriteFile(filepath.Join(dir, "tls", "tls.crt"), certPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "tls", "tls.key"), keyPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "admin", "token"), []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	var out, errb bytes.Buffer
	if code := cli.Main(t.Context(), []string{"serve", "--check", filepath.Join(dir, "deploy.yaml")}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("serve --check: %d\n%s", code, errb.String())
	}
	policy := filepath.Join(dir, "policy")
	if code := cli.Main(t.Context(), []string{"render", filepath.Join("kubernetes", "deploy.yaml"), "--target", "kubernetes", "--scope", "bot", "--out-dir", policy}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("render: %s", errb.String())
	}
	for _, f := range []string{"networkpolicy.yaml", "cilium-fqdn.yaml"} {
		got, _ := os.ReadFile(filepath.Join(policy, f))
		want, _ := os.ReadFile(filepath.Join("kubernetes", "bot-policy", f))
		if !bytes.Equal(got, want) {
			t.Errorf("deploy/kubernetes/bot-policy/%s is not what render writes today: run %s", f,
				fmt.Sprintf("teamsgate render deploy/kubernetes/deploy.yaml --target kubernetes --scope bot --out-dir deploy/kubernetes/bot-policy"))
		}
	}
}

// selfSigned makes a certificate and key for the gateway's check.
func selfSigned(t *testing.T) ([]byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bot.contoso.example"}, DNSNames: []string{"bot.contoso.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
}
