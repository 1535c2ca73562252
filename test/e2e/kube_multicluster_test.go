package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/testenv/netlab"
)

// kubeCluster is one cluster of the Kubernetes-mode federation test: its
// own API server, operator, CA and pods.
type kubeCluster struct {
	*meshLab
	name, td    string
	c           client.Client
	root        []byte
	fed, bundle string
}

func startKubeCluster(t *testing.T, lab *netlab.Lab, name string) *kubeCluster {
	t.Helper()
	mcsCRDs, err := testenv.MCSCRDs()
	if err != nil {
		t.Fatal(err)
	}
	env, err := testenv.Start(mcsCRDs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	k := &kubeCluster{meshLab: newPlane(t, lab), name: name, td: name + ".example", c: env.Client,
		fed: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), bundle: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
	k.cluster = name
	ctx := context.Background()
	for _, ns := range []string{"plexus-system", "shop"} {
		if err := k.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig := filepath.Join(k.dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(k.dir, "operator.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logFile.Close() })
	op := exec.CommandContext(ctx, bin.operator, "--kubeconfig", kubeconfig, "--namespace", "plexus-system",
		"--xds-address", k.xds, "--ca-address", k.ca, "--ca-hosts", "localhost", "--webhook-port", "0",
		"--metrics-bind-address", "0", "--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		"--dashboard-address", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		"--federation-address", k.fed, "--bundle-address", k.bundle)
	op.Stdout, op.Stderr = logFile, logFile
	if err := op.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = op.Process.Kill(); _ = op.Wait() })
	k.openSockets(t)
	if err := k.c.Create(ctx, &meshv1.Mesh{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: meshv1.MeshSpec{ClusterName: meshv1.ClusterName(name), TrustDomain: meshv1.TrustDomain(k.td)}}); err != nil {
		t.Fatal(err)
	}
	ca := &corev1.Secret{}
	testenv.Eventually(t, name+"'s CA", func() error {
		return k.c.Get(ctx, client.ObjectKey{Namespace: "plexus-system", Name: "plexus-ca"}, ca)
	})
	k.root = ca.Data["ca.crt"]
	t.Cleanup(func() {
		if t.Failed() {
			k.dumpLogs(t)
		}
	})
	return k
}

// token is a projected ServiceAccount token (audience plexus) of shop/sa.
func (k *kubeCluster) token(t *testing.T, account string) string {
	t.Helper()
	ctx := context.Background()
	ns, sa := accountOf(account)
	if err := k.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	acct := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}}
	if err := k.c.Create(ctx, acct); err != nil {
		t.Fatal(err)
	}
	req := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: []string{"plexus"}, ExpirationSeconds: ptr.To[int64](3600)}}
	if err := k.c.SubResource("token").Create(ctx, acct, req); err != nil {
		t.Fatal(err)
	}
	return k.file(t, ns+"-"+sa+".token", []byte(req.Status.Token))
}

// service creates Service shop/name on port 8080 and returns its address.
func (k *kubeCluster) service(t *testing.T, name string) string {
	t.Helper()
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{
			{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP},
		}},
	}
	if err := k.c.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s.Spec.ClusterIP
}

// peer declares other as k's peer, with bundle as its trust bundle.
func (k *kubeCluster) peer(t *testing.T, other *kubeCluster, gateway string, bundle []byte) {
	t.Helper()
	ctx := context.Background()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "plexus-system", Name: other.name + "-bundle"}, Data: map[string][]byte{"bundle.pem": bundle}}
	if err := k.c.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	mp := &meshv1.MeshPeer{ObjectMeta: metav1.ObjectMeta{Name: other.name}, Spec: meshv1.MeshPeerSpec{
		ClusterName: meshv1.ClusterName(other.name), TrustDomain: meshv1.TrustDomain(other.td),
		FederationEndpoint: meshv1.HostPort(other.fed), GatewayAddresses: []meshv1.IPPort{meshv1.IPPort(gateway + ":15443")},
		ImportStaleness: "30s",
		TrustBundle: meshv1.PeerTrustBundle{
			SecretRef:        meshv1.BundleSecretReference{SecretReference: meshv1.SecretReference{Namespace: "plexus-system", Name: other.name + "-bundle"}},
			EndpointURL:      "https://" + other.bundle + "/bundle",
			EndpointSPIFFEID: meshv1.SPIFFEID("spiffe://" + other.td + "/ns/plexus-system/sa/plexus-operator"),
		},
	}}
	if err := k.c.Create(ctx, mp); err != nil {
		t.Fatal(err)
	}
}

// peerCondition waits until k's MeshPeer for other has the condition.
func (k *kubeCluster) peerCondition(t *testing.T, other, typ string, status metav1.ConditionStatus, msg string) {
	t.Helper()
	testenv.EventuallyWithin(t, 90*time.Second, fmt.Sprintf("%s: MeshPeer %s %s=%s", k.name, other, typ, status), func() error {
		var mp meshv1.MeshPeer
		if err := k.c.Get(context.Background(), client.ObjectKey{Name: other}, &mp); err != nil {
			return err
		}
		c := meta.FindStatusCondition(mp.Status.Conditions, typ)
		if c == nil || c.Status != status || !strings.Contains(c.Message, msg) {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
}

// runReviews runs reviews in k: a pod with its app and sidecar, the
// Service and its EndpointSlice, exported; and k's east-west gateway.
func (k *kubeCluster) runReviews(t *testing.T, lab *netlab.Lab) (gateway *netlab.Pod) {
	t.Helper()
	pod := lab.Pod(t, k.name+"-reviews")
	serveApp(t, pod, k.name+"-reviews", &k.failing)
	k.service(t, "reviews")
	p := createPod(t, k.c, "reviews-0", "reviews", pod, map[string]string{"app": "reviews"})
	endpointSlice(t, k.c, "reviews", p)
	if err := k.c.Create(context.Background(), &mcsv1a1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "reviews"}}); err != nil {
		t.Fatal(err)
	}
	k.startProxy(t, proxySpec{pod: pod, node: "reviews-0.shop", workload: "reviews", sa: "reviews",
		appPorts: "8080/http", rootCA: k.file(t, "root.pem", k.root), credential: k.token(t, "reviews")})
	gateway = lab.Pod(t, k.name+"-gw")
	k.startGateway(t, gateway, k.file(t, "root.pem", k.root), k.token(t, gatewayAccount))
	return gateway
}

// TestThreeKubernetesClusters federates three clusters, each with its own
// API server, operator and trust domain: east's client calls reviews,
// which west and north export (MCS ServiceExport). Requests are balanced
// across both peers' gateways with mTLS end to end; MeshPeer status and
// ServiceImports say so; when north's gateway stops, west serves every
// request; un-exporting in west withdraws it from east; and a peer whose
// MeshPeer holds the wrong trust bundle is refused.
func TestThreeKubernetesClusters(t *testing.T) {
	netlab.Skip(t)
	lab := netlab.New(t)
	east, west, north := startKubeCluster(t, lab, "east"), startKubeCluster(t, lab, "west"), startKubeCluster(t, lab, "north")
	// east calls reviews by its own Service, with no endpoints here and
	// exported so that it joins the clusterset service.
	vip := east.service(t, "reviews")
	if err := east.c.Create(context.Background(), &mcsv1a1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "reviews"}}); err != nil {
		t.Fatal(err)
	}
	gateways := map[*kubeCluster]*netlab.Pod{}
	for _, k := range []*kubeCluster{west, north} {
		gateways[k] = k.runReviews(t, lab)
		east.peer(t, k, gateways[k].IP, k.root)
		k.peer(t, east, "192.0.2.1", east.root)
	}
	for _, k := range []*kubeCluster{west, north} {
		east.peerCondition(t, k.name, meshv1.ConditionReady, metav1.ConditionTrue, "importing 1 services")
	}
	testenv.Eventually(t, "east's ServiceImport names both clusters", func() error {
		var si mcsv1a1.ServiceImport
		if err := east.c.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "reviews"}, &si); err != nil {
			return err
		}
		if len(si.Status.Clusters) != 2 || len(si.Spec.IPs) != 1 || si.Spec.IPs[0] != vip {
			return fmt.Errorf("ServiceImport %+v", si)
		}
		return nil
	})

	clientPod := lab.Pod(t, "east-client")
	createPod(t, east.c, "client-0", "client", clientPod, map[string]string{"app": "client"})
	east.startProxy(t, proxySpec{pod: clientPod, node: "client-0.shop", workload: "client", sa: "client",
		rootCA: east.file(t, "root.pem", east.root), credential: east.token(t, "client")})
	c := clientPod.HTTPClient(t)
	url := "http://" + vip + ":8080/"
	reachesEach(t, c, url, "west-reviews", "north-reviews")

	// mTLS end to end: west's gateway carried connections without
	// terminating any request.
	passesTLSThrough(t, gateways[west])

	// north's gateway stops: west serves every request.
	gw := north.proxies["gateway"]
	if err := gw.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = gw.Wait()
	for i := range 40 {
		code, body, err := get(c, url)
		if err != nil || code != http.StatusOK || body != "west-reviews" {
			t.Fatalf("call %d after north's gateway stopped: %d %q %v", i, code, body, err)
		}
	}

	// west's MeshPeer in east gets north's root instead of west's: west is
	// refused, and says why in the MeshPeer's status.
	ctx := context.Background()
	var secret corev1.Secret
	if err := east.c.Get(ctx, client.ObjectKey{Namespace: "plexus-system", Name: "west-bundle"}, &secret); err != nil {
		t.Fatal(err)
	}
	secret.Data["bundle.pem"] = north.root
	if err := east.c.Update(ctx, &secret); err != nil {
		t.Fatal(err)
	}
	east.peerCondition(t, "west", meshv1.ConditionConnected, metav1.ConditionFalse, "certificate")

	// Un-exporting reviews in west withdraws it from east at once (west
	// restored first, so the stream carries the withdrawal).
	secret.Data["bundle.pem"] = west.root
	if err := east.c.Update(ctx, &secret); err != nil {
		t.Fatal(err)
	}
	east.peerCondition(t, "west", meshv1.ConditionConnected, metav1.ConditionTrue, "")
	if err := west.c.Delete(ctx, &mcsv1a1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "reviews"}}); err != nil {
		t.Fatal(err)
	}
	east.peerCondition(t, "west", meshv1.ConditionReady, metav1.ConditionTrue, "importing 0 services")
}
