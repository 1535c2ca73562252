package federation

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
)

func meshPeer(name, cluster, td string) *meshv1.MeshPeer {
	return &meshv1.MeshPeer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: meshv1.MeshPeerSpec{
		ClusterName: meshv1.ClusterName(cluster), TrustDomain: meshv1.TrustDomain(td),
		FederationEndpoint: "192.0.2.10:15443", GatewayAddresses: []meshv1.IPPort{"192.0.2.10:15443"},
		TrustBundle: meshv1.PeerTrustBundle{SecretRef: meshv1.BundleSecretReference{SecretReference: meshv1.SecretReference{Namespace: "plexus-system", Name: name}}},
	}}
}

func pemOf(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func TestFromMeshPeer(t *testing.T) {
	west := newDomain(t, "west.example")
	bundle := pemOf(west.ca.Roots())
	pc, err := FromMeshPeer(meshPeer("west", "west", "west.example"), bundle)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Peer.Operator.String() != "spiffe://west.example/ns/plexus-system/sa/plexus-operator" || pc.Peer.Staleness != 10*time.Minute || len(pc.InitialBundle) != 1 {
		t.Errorf("defaults: %+v", pc.Peer)
	}
	mp := meshPeer("west", "west", "west.example")
	mp.Spec.OperatorSPIFFEID = "spiffe://west.example/ns/mesh/sa/plexus-operator"
	if pc, err := FromMeshPeer(mp, bundle); err != nil || pc.Peer.Operator.String() != string(mp.Spec.OperatorSPIFFEID) {
		t.Errorf("operatorSPIFFEID not taken: %v, %v", pc.Peer.Operator, err)
	}

	// What the CRD refuses is refused here too: local mode has no API
	// server to check it.
	for want, edit := range map[string]func(*meshv1.MeshPeer){
		"spec.operatorSPIFFEID spiffe://east.example/ns/x/sa/plexus-operator is not in the peer's trust domain": func(mp *meshv1.MeshPeer) {
			mp.Spec.OperatorSPIFFEID = "spiffe://east.example/ns/x/sa/plexus-operator"
		},
		"spec.importStaleness: 0s: must be more than zero": func(mp *meshv1.MeshPeer) { mp.Spec.ImportStaleness = "0s" },
		"want an https:// URL": func(mp *meshv1.MeshPeer) {
			mp.Spec.TrustBundle.EndpointURL = "http://192.0.2.10/bundle"
			mp.Spec.TrustBundle.EndpointSPIFFEID = "spiffe://west.example/ns/plexus-system/sa/plexus-operator"
		},
		"spec.trustBundle.refreshInterval: -1m: must be more than zero": func(mp *meshv1.MeshPeer) {
			mp.Spec.TrustBundle.EndpointURL = "https://192.0.2.10/bundle"
			mp.Spec.TrustBundle.EndpointSPIFFEID = "spiffe://west.example/ns/plexus-system/sa/plexus-operator"
			mp.Spec.TrustBundle.RefreshInterval = "-1m"
		},
		"spec.federationEndpoint \"nowhere\" is not host:port": func(mp *meshv1.MeshPeer) { mp.Spec.FederationEndpoint = "nowhere" },
	} {
		mp := meshPeer("west", "west", "west.example")
		edit(mp)
		if _, err := FromMeshPeer(mp, bundle); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
}

func TestPeerConfigsRefusesSelfAndDuplicates(t *testing.T) {
	west, north := newDomain(t, "west.example"), newDomain(t, "north.example")
	bundles := map[string][]byte{"a-west": pemOf(west.ca.Roots()), "b-west-again": pemOf(west.ca.Roots()), "north": pemOf(north.ca.Roots())}
	peers := []*meshv1.MeshPeer{
		meshPeer("north", "north", "north.example"),
		meshPeer("b-west-again", "west2", "west.example"),
		meshPeer("a-west", "west", "west.example"),
		meshPeer("self", "east", "east.example"),
		meshPeer("no-secret", "south", "south.example"),
	}
	configs, invalid := PeerConfigs("east", "east.example", peers, func(mp *meshv1.MeshPeer) ([]byte, error) {
		if b, ok := bundles[mp.Name]; ok {
			return b, nil
		}
		return nil, errors.New("secret not found")
	})
	if len(configs) != 2 || configs[0].Name != "a-west" || configs[1].Name != "north" {
		t.Errorf("configs %+v: want a-west and north, in name order", configs)
	}
	for name, want := range map[string]string{
		"b-west-again": "trust domain west.example is already the peer of MeshPeer a-west",
		"self":         "must differ from this cluster's",
		"no-secret":    "secret not found",
	} {
		if err := invalid[name]; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
}
