package testenv

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DryRunApply applies objs as "kubectl apply --server-side --dry-run=server"
// would: the API server validates each against its schema and admission,
// and stores nothing. The namespaces they live in are created for real
// first, since a namespaced object cannot be validated without one. It
// returns every refusal, each naming its object.
func (e *Env) DryRunApply(ctx context.Context, objs []*unstructured.Unstructured) error {
	namespaces := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() == "Namespace" && o.GetAPIVersion() == "v1" {
			namespaces[o.GetName()] = true
		}
		if ns := o.GetNamespace(); ns != "" {
			namespaces[ns] = true
		}
	}
	for ns := range namespaces {
		err := e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	var errs []error
	for _, o := range objs {
		err := e.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
			client.DryRunAll, client.ForceOwnership, client.FieldOwner("plexus-test"))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", o.GetKind(), client.ObjectKeyFromObject(o), err))
		}
	}
	return errors.Join(errs...)
}
