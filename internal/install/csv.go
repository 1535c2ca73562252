package install

import (
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/blang/semver/v4"
	"github.com/operator-framework/api/pkg/lib/version"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/plexus-mesh/plexus/controllers"
	"github.com/plexus-mesh/plexus/internal/inject"
	"github.com/plexus-mesh/plexus/internal/monitoring"
)

//go:embed icon.svg
var icon []byte

// OLM mounts the certificate of each webhook definition here, in every
// container of the webhook's Deployment.
const olmWebhookCertDir = "/tmp/k8s-webhook-server/serving-certs"

// Images names the operator and proxy images of a version.
func Images(v string) (operator, proxy string) {
	return "ghcr.io/plexus-mesh/plexus-operator:v" + v, "ghcr.io/plexus-mesh/plexus-proxy:v" + v
}

// csvInput is what a ClusterServiceVersion is made of.
type csvInput struct {
	version     semver.Version
	deployment  *appsv1.Deployment
	clusterRole *rbacv1.ClusterRole
	role        *rbacv1.Role
	crds        []*apiextensionsv1.CustomResourceDefinition
	// samples are config/samples' objects of the owned kinds.
	samples []*unstructured.Unstructured
}

func clusterServiceVersion(in csvInput) (*operatorsv1alpha1.ClusterServiceVersion, error) {
	examples, err := json.MarshalIndent(in.samples, "", "  ")
	if err != nil {
		return nil, err
	}
	operatorImage, proxyImage := Images(in.version.String())
	csv := &operatorsv1alpha1.ClusterServiceVersion{
		TypeMeta: metav1.TypeMeta{APIVersion: operatorsv1alpha1.SchemeGroupVersion.String(), Kind: operatorsv1alpha1.ClusterServiceVersionKind},
		ObjectMeta: metav1.ObjectMeta{
			Name: "plexus-operator.v" + in.version.String(),
			Annotations: map[string]string{
				"alm-examples":   string(examples),
				"capabilities":   "Basic Install",
				"categories":     "Networking, Security, Monitoring",
				"containerImage": operatorImage,
				"description":    summary,
				"repository":     repository,
				"support":        "Plexus maintainers",
				"operatorframework.io/suggested-namespace": "plexus-system",
			},
		},
		Spec: operatorsv1alpha1.ClusterServiceVersionSpec{
			DisplayName:    "Plexus Service Mesh",
			Description:    description,
			Version:        version.OperatorVersion{Version: in.version},
			Maturity:       "alpha",
			MinKubeVersion: minKubeVersion,
			Keywords:       []string{"service mesh", "mtls", "spiffe", "xds", "gateway api", "gamma", "multi-cluster", "circuit breaking", "observability"},
			Maintainers:    []operatorsv1alpha1.Maintainer{{Name: "Plexus maintainers", Email: "maintainers@plexus.dev"}},
			Provider:       operatorsv1alpha1.AppLink{Name: "Plexus", URL: repository},
			Links: []operatorsv1alpha1.AppLink{
				{Name: "Documentation", URL: repository + "/tree/main/docs"},
				{Name: "Installing Plexus", URL: repository + "/blob/main/docs/install.md"},
				{Name: "Source", URL: repository},
			},
			Icon:         []operatorsv1alpha1.Icon{{Data: base64.StdEncoding.EncodeToString(icon), MediaType: "image/svg+xml"}},
			InstallModes: installModes(),
			InstallStrategy: operatorsv1alpha1.NamedInstallStrategy{
				StrategyName: operatorsv1alpha1.InstallStrategyNameDeployment,
				StrategySpec: operatorsv1alpha1.StrategyDetailsDeployment{
					DeploymentSpecs:    []operatorsv1alpha1.StrategyDeploymentSpec{{Name: in.deployment.Name, Label: in.deployment.Labels, Spec: olmDeploymentSpec(in.deployment, operatorImage, proxyImage)}},
					ClusterPermissions: []operatorsv1alpha1.StrategyDeploymentPermissions{{ServiceAccountName: serviceAccount(in.deployment), Rules: olmClusterRules(in.clusterRole.Rules)}},
					Permissions:        []operatorsv1alpha1.StrategyDeploymentPermissions{{ServiceAccountName: serviceAccount(in.deployment), Rules: in.role.Rules}},
				},
			},
			WebhookDefinitions: []operatorsv1alpha1.WebhookDescription{injectorWebhook(in.deployment.Name)},
			RelatedImages: []operatorsv1alpha1.RelatedImage{
				{Name: "plexus-operator", Image: operatorImage},
				{Name: "plexus-proxy", Image: proxyImage},
			},
		},
	}
	for _, crd := range in.crds {
		csv.Spec.CustomResourceDefinitions.Owned = append(csv.Spec.CustomResourceDefinitions.Owned, ownedCRD(crd))
	}
	return csv, nil
}

func installModes() []operatorsv1alpha1.InstallMode {
	// One control plane serves the whole cluster: its CRDs are
	// cluster-wide, Mesh is cluster-scoped and every namespace's pods are
	// injected and meshed.
	return []operatorsv1alpha1.InstallMode{
		{Type: operatorsv1alpha1.InstallModeTypeOwnNamespace, Supported: false},
		{Type: operatorsv1alpha1.InstallModeTypeSingleNamespace, Supported: false},
		{Type: operatorsv1alpha1.InstallModeTypeMultiNamespace, Supported: false},
		{Type: operatorsv1alpha1.InstallModeTypeAllNamespaces, Supported: true},
	}
}

func serviceAccount(d *appsv1.Deployment) string { return d.Spec.Template.Spec.ServiceAccountName }

// olmDeploymentSpec is the kustomize Deployment adapted to OLM: the
// webhook's certificate and configuration come from OLM (ADR 0008), the
// images are the release's.
func olmDeploymentSpec(d *appsv1.Deployment, operatorImage, proxyImage string) appsv1.DeploymentSpec {
	spec := *d.Spec.DeepCopy()
	c := &spec.Template.Spec.Containers[0]
	c.Image = operatorImage
	var args []string
	for _, a := range c.Args {
		switch {
		case strings.HasPrefix(a, "--webhook-service="):
			// OLM names the webhook's Service itself.
		case strings.HasPrefix(a, "--proxy-image="):
			args = append(args, "--proxy-image="+proxyImage)
		default:
			args = append(args, a)
		}
	}
	args = append(args, "--webhook-cert-dir="+olmWebhookCertDir)
	c.Args = args
	return spec
}

// olmClusterRules are the operator's ClusterRole rules but for managing
// MutatingWebhookConfigurations, which OLM does for it.
func olmClusterRules(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range rules {
		if slices.Contains(r.APIGroups, admissionregistrationv1.GroupName) && slices.Equal(r.Resources, []string{"mutatingwebhookconfigurations"}) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// injectorWebhook declares the sidecar injector for OLM: OLM makes its
// certificate, a Service <deployment>-service and the configuration.
// It fails open: OLM's configuration selects every namespace (ADR 0008).
func injectorWebhook(deployment string) operatorsv1alpha1.WebhookDescription {
	return operatorsv1alpha1.WebhookDescription{
		GenerateName:   "inject.mesh.plexus.dev",
		Type:           operatorsv1alpha1.MutatingAdmissionWebhook,
		DeploymentName: deployment,
		ContainerPort:  443,
		TargetPort:     ptr.To(intstr.FromInt32(9443)),
		WebhookPath:    ptr.To("/inject-pod"),
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope)},
		}},
		FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
		MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		TimeoutSeconds:          ptr.To[int32](5),
		AdmissionReviewVersions: []string{"v1"},
		ReinvocationPolicy:      ptr.To(admissionregistrationv1.NeverReinvocationPolicy),
	}
}

// ownedCRD describes a CRD and the objects the operator makes for it.
func ownedCRD(crd *apiextensionsv1.CustomResourceDefinition) operatorsv1alpha1.CRDDescription {
	d := crdDescription(crd)
	ref := func(kind, version, name string) operatorsv1alpha1.APIResourceReference {
		return operatorsv1alpha1.APIResourceReference{Kind: kind, Version: version, Name: name}
	}
	switch d.Kind {
	case "Mesh":
		d.Resources = []operatorsv1alpha1.APIResourceReference{
			ref("Deployment", "v1", controllers.GatewayName), ref("Service", "v1", controllers.GatewayName),
			ref("ServiceAccount", "v1", controllers.GatewayName), ref("ConfigMap", "v1", inject.CARootConfigMap), ref("Secret", "v1", "plexus-ca"),
			ref("ServiceMonitor", "v1", monitoring.NameControlPlane), ref("PodMonitor", "v1", monitoring.NameProxies),
			ref("PrometheusRule", "v1", monitoring.NameRules),
		}
	case "MeshPeer":
		d.Resources = []operatorsv1alpha1.APIResourceReference{ref("ServiceImport", "v1alpha1", "")}
	}
	return d
}

// Long texts of the CSV.
const (
	repository     = "https://github.com/plexus-mesh/plexus"
	minKubeVersion = "1.30.0" // admission match conditions (GA in 1.30) and native sidecars (on by default since 1.29)
	summary        = "A light, secure-by-default, multi-cluster service mesh: Go sidecars configured over xDS, SPIFFE mTLS, Gateway API routing, federation and built-in monitoring."
)

var description = strings.TrimSpace(fmt.Sprintf(`
Plexus is a light, secure-by-default, multi-cluster service mesh written in Go.
The operator is the control plane: it reads a %[1]sMesh%[1]s per cluster, Gateway API
routes attached to Services (GAMMA), %[1]sTrafficPolicy%[1]s, %[1]sAuthorizationPolicy%[1]s and
%[1]sMeshPeer%[1]s, issues SPIFFE identities, and streams configuration over xDS to Go
sidecar proxies that carry every workload's traffic with mTLS.

## Features

* **mTLS everywhere**: a built-in CA (or your own root, or SPIRE) issues SPIFFE
  certificates; STRICT mode by default, PERMISSIVE per namespace or workload.
* **Traffic management**: HTTPRoute and GRPCRoute with a Service as parent (weighted
  backends, matches, header changes, timeouts), plus TrafficPolicy for load balancing,
  retries with budgets, circuit breaking and outlier detection.
* **Authorization**: allow or deny callers by SPIFFE ID, trust domain, namespace,
  port, method and path.
* **Multi-cluster**: MCS API exports and imports, an SNI-routing east-west gateway,
  and SPIFFE trust bundle federation, with mTLS end to end.
* **Monitoring built in**: ServiceMonitor, PodMonitor, recording rules, SLO burn-rate
  and health alerts with runbooks, and Grafana dashboards.

## After installing

1. Install the Gateway API CRDs (standard channel) if your cluster lacks them, to route
   with HTTPRoute and GRPCRoute.
2. Create a Mesh (the example in this operator's page), with your cluster's name and
   trust domain.
3. Label a namespace %[1]smesh.plexus.dev/inject=enabled%[1]s and restart its workloads:
   their pods get the sidecar.

Under OLM the injection webhook fails open: pods created while no operator replica
answers start without a sidecar (restart them to mesh them). See the install guide
for the details and for installing with kustomize instead.
`, "`"))
