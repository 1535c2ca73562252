package v1alpha1

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// prometheusLabelName is Prometheus's label name syntax, stricter than
// Kubernetes label keys: no dots, dashes or slashes.
var prometheusLabelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Validate reports what the API server's schema cannot check: label
// selectors, label and Prometheus label syntax, resource requests against
// limits, and timeouts against each other. Call it on a defaulted spec.
func (s *MeshSpec) Validate() field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if inj := s.Injection; inj != nil {
		p := spec.Child("injection")
		if inj.NamespaceSelector != nil {
			if _, err := metav1.LabelSelectorAsSelector(inj.NamespaceSelector); err != nil {
				errs = append(errs, field.Invalid(p.Child("namespaceSelector"), inj.NamespaceSelector,
					fmt.Sprintf("not a valid label selector (%v); see https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/", err)))
			}
		}
		if inj.Resources != nil {
			errs = append(errs, validateRequestsWithinLimits(p.Child("resources"), inj.Resources)...)
		}
	}
	if t := s.Traffic; t != nil {
		errs = append(errs, validateTimeoutPair(spec.Child("traffic"), t.RequestTimeout, t.Retries)...)
	}
	if o := s.Observability; o != nil {
		p := spec.Child("observability")
		if o.ServiceMonitor != nil {
			errs = append(errs, validateKubeLabels(p.Child("serviceMonitor", "labels"), o.ServiceMonitor.Labels)...)
		}
		if r := o.PrometheusRule; r != nil {
			errs = append(errs, validateKubeLabels(p.Child("prometheusRule", "labels"), r.Labels)...)
			errs = append(errs, validateAlertLabels(p.Child("prometheusRule", "alertLabels"), r.AlertLabels)...)
		}
		if g := o.Grafana; g != nil {
			errs = append(errs, validateKubeLabels(p.Child("grafana"), map[string]string{g.LabelKey: g.LabelValue})...)
		}
	}
	return errs
}

func validateKubeLabels(p *field.Path, labels map[string]string) field.ErrorList {
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(p.Key(k), k, "label key: "+msg))
		}
		for _, msg := range validation.IsValidLabelValue(labels[k]) {
			errs = append(errs, field.Invalid(p.Key(k), labels[k], "label value: "+msg))
		}
	}
	return errs
}

func validateAlertLabels(p *field.Path, labels map[string]string) field.ErrorList {
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if !prometheusLabelName.MatchString(k) {
			errs = append(errs, field.Invalid(p.Key(k), k,
				"not a Prometheus label name: use letters, digits and underscores, not starting with a digit (for example team_name)"))
		}
	}
	return errs
}

func validateRequestsWithinLimits(p *field.Path, r *corev1.ResourceRequirements) field.ErrorList {
	var errs field.ErrorList
	names := make([]string, 0, len(r.Requests))
	for name := range r.Requests {
		names = append(names, string(name))
	}
	sort.Strings(names)
	for _, name := range names {
		req := r.Requests[corev1.ResourceName(name)]
		limit, ok := r.Limits[corev1.ResourceName(name)]
		if ok && req.Cmp(limit) > 0 {
			errs = append(errs, field.Invalid(p.Child("requests").Key(name), req.String(),
				fmt.Sprintf("must not exceed the limit %s: lower the request or raise the limit", limit.String())))
		}
	}
	return errs
}

func validateTimeoutPair(p *field.Path, request *gwapiv1.Duration, retries *Retries) field.ErrorList {
	if request == nil || retries == nil || retries.PerTryTimeout == nil {
		return nil
	}
	total, err1 := time.ParseDuration(string(*request))
	perTry, err2 := time.ParseDuration(string(*retries.PerTryTimeout))
	if err1 != nil || err2 != nil || total == 0 || perTry <= total {
		return nil // malformed durations are refused by the schema
	}
	return field.ErrorList{field.Invalid(p.Child("retries", "perTryTimeout"), *retries.PerTryTimeout,
		fmt.Sprintf("must not be longer than requestTimeout (%s): lower perTryTimeout or raise requestTimeout", *request))}
}
