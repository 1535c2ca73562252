package inject

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Path is where the webhook server serves the injector.
const Path = "/inject-pod"

// ConfigSource returns the injection settings of the mesh in effect; ok
// is false when there is no mesh.
type ConfigSource func(ctx context.Context) (c Config, ok bool, err error)

// NamespaceFilter says why the pods of a namespace are not injected; ""
// means they are.
type NamespaceFilter func(ctx context.Context, namespace string) (reason string, err error)

// Handler injects pods as the API server admits them.
type Handler struct {
	Config ConfigSource
	// Namespaces, when set, is asked about every pod's namespace; nil
	// leaves the choice to the webhook configuration's namespaceSelector.
	Namespaces NamespaceFilter
	Decoder    admission.Decoder
	Log        logr.Logger
}

var _ admission.Handler = (*Handler)(nil)

// Handle implements admission.Handler.
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create {
		return admission.Allowed("only new pods are injected")
	}
	pod := &corev1.Pod{}
	if err := h.Decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if reason := Skip(pod); reason != "" {
		return admission.Allowed("not injected: " + reason)
	}
	if h.Namespaces != nil {
		reason, err := h.Namespaces(ctx, req.Namespace)
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		}
		if reason != "" {
			return admission.Allowed("not injected: " + reason)
		}
	}
	cfg, ok, err := h.Config(ctx)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if !ok {
		return admission.Allowed("not injected: there is no Mesh")
	}
	if err := Inject(pod, cfg); err != nil {
		h.Log.Info("refused a pod with invalid mesh annotations", "namespace", req.Namespace, "pod", podName(pod), "problem", err.Error())
		return admission.Denied(err.Error())
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, raw)
}

func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName + "*"
}
