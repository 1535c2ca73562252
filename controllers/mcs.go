package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/plexus-mesh/plexus/internal/model"
)

// +kubebuilder:rbac:groups=multicluster.x-k8s.io,resources=serviceexports,verbs=get;list;watch
// +kubebuilder:rbac:groups=multicluster.x-k8s.io,resources=serviceexports/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=multicluster.x-k8s.io,resources=serviceimports,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=multicluster.x-k8s.io,resources=serviceimports/status,verbs=get;update;patch

// MCSInstalled reports whether the cluster serves the MCS API's
// ServiceExport and ServiceImport.
func MCSInstalled(mapper meta.RESTMapper) bool {
	for _, kind := range []string{"ServiceExport", "ServiceImport"} {
		if _, err := mapper.RESTMapping(schema.GroupKind{Group: mcsv1a1.GroupName, Kind: kind}, mcsv1a1.GroupVersion.Version); err != nil {
			return false
		}
	}
	return true
}

// applyExports marks the Services that ServiceExports export and writes
// each ServiceExport's conditions, as the MCS API specifies: Valid (the
// Service exists and can be exported), Conflict (a peer exports the same
// service with other ports or protocols) and Ready.
// gateway says whether the Mesh runs the east-west gateway that peers reach
// the service through.
func (r *MeshConfigReconciler) applyExports(ctx context.Context, m *model.Mesh, gateway bool) error {
	var exports mcsv1a1.ServiceExportList
	if err := r.Client.List(ctx, &exports); err != nil {
		return err
	}
	var svcs corev1.ServiceList
	if err := r.Client.List(ctx, &svcs); err != nil {
		return err
	}
	byKey := map[model.NamespacedName]*corev1.Service{}
	for i := range svcs.Items {
		byKey[model.NamespacedName{Namespace: svcs.Items[i].Namespace, Name: svcs.Items[i].Name}] = &svcs.Items[i]
	}
	var errs []error
	for i := range exports.Items {
		se := &exports.Items[i]
		key := model.NamespacedName{Namespace: se.Namespace, Name: se.Name}
		var conds []metav1.Condition
		svc := byKey[key]
		switch {
		case svc == nil:
			conds = append(conds, cond(string(mcsv1a1.ServiceExportConditionValid), false, string(mcsv1a1.ServiceExportReasonNoService),
				fmt.Sprintf("no Service %s: create it, or delete this ServiceExport", key)))
		case svc.Spec.Type == corev1.ServiceTypeExternalName:
			conds = append(conds, cond(string(mcsv1a1.ServiceExportConditionValid), false, string(mcsv1a1.ServiceExportReasonInvalidServiceType),
				"an ExternalName Service has no endpoints to export"))
		default:
			conds = append(conds, cond(string(mcsv1a1.ServiceExportConditionValid), true, string(mcsv1a1.ServiceExportReasonValid), "the Service is exported to the mesh's peers"))
			for _, s := range m.Services {
				if s.Key == key {
					s.Exported = true
					if c := exportConflict(s, m.Imports); c != "" {
						conds = append(conds, cond(string(mcsv1a1.ServiceExportConditionConflict), true, string(mcsv1a1.ServiceExportReasonPortConflict), c))
					} else {
						conds = append(conds, cond(string(mcsv1a1.ServiceExportConditionConflict), false, string(mcsv1a1.ServiceExportReasonNoConflicts), "the peers that export it agree on its ports"))
					}
					conds = append(conds, exportReady(s, m.Settings.ClusterName, gateway))
				}
			}
		}
		errs = append(errs, r.writeExportStatus(ctx, se, conds))
	}
	return errors.Join(errs...)
}

// exportReady says whether peers can reach an exported service: through
// the east-west gateway, to sidecars here.
func exportReady(s *model.Service, cluster string, gateway bool) metav1.Condition {
	ready := string(mcsv1a1.ServiceExportConditionReady)
	switch {
	case !gateway:
		return cond(ready, false, string(mcsv1a1.ServiceExportReasonPending),
			"the Mesh does not run the east-west gateway: peers cannot reach the service; set spec.federation.eastWestGateway.enabled")
	case len(s.LocalIdentities(cluster)) == 0:
		return cond(ready, false, string(mcsv1a1.ServiceExportReasonPending),
			"no endpoint with a sidecar serves the service here: peers call exported services over mTLS only; inject the sidecar into its pods")
	}
	return cond(ready, true, string(mcsv1a1.ServiceExportReasonExported), "served to peers through the east-west gateway")
}

func cond(t string, ok bool, reason, msg string) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg}
}

// exportConflict describes how peers' exports of the same service differ
// from this one's ports ("" when they agree).
func exportConflict(svc *model.Service, imports []*model.Import) string {
	mine := portSet(svc.Ports)
	var diffs []string
	for _, imp := range imports {
		if imp.Key != svc.Key {
			continue
		}
		if theirs := portSet(imp.Ports); theirs != mine {
			diffs = append(diffs, fmt.Sprintf("cluster %s exports it with ports %s", imp.Cluster, theirs))
		}
	}
	if len(diffs) == 0 {
		return ""
	}
	return fmt.Sprintf("this cluster exports %s with ports %s, but %s: align the Services' ports and protocols", svc.Key, mine, strings.Join(diffs, "; "))
}

func portSet(ports []model.ServicePort) string {
	out := make([]string, 0, len(ports))
	for _, p := range ports {
		out = append(out, fmt.Sprintf("%d/%s", p.Port, strings.ToLower(string(p.Protocol))))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func (r *MeshConfigReconciler) writeExportStatus(ctx context.Context, se *mcsv1a1.ServiceExport, conds []metav1.Condition) error {
	if !r.writes() {
		return nil
	}
	before := se.DeepCopy()
	for _, c := range conds {
		c.ObservedGeneration = se.Generation
		meta.SetStatusCondition(&se.Status.Conditions, c)
	}
	if equality.Semantic.DeepEqual(before.Status, se.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, se, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("status of ServiceExport %s/%s: %w", se.Namespace, se.Name, err)
	}
	return nil
}

// syncImports keeps a ServiceImport for each service peers export here:
// its ports, the clusters exporting it, and, when a local Service of that
// name exists, its cluster IP. ServiceImports of services no longer
// imported are deleted.
func (r *MeshConfigReconciler) syncImports(ctx context.Context, m *model.Mesh) error {
	if !r.writes() {
		return nil
	}
	type imported struct {
		ports    []model.ServicePort
		clusters []string
	}
	want := map[model.NamespacedName]*imported{}
	for _, imp := range m.Imports {
		w := want[imp.Key]
		if w == nil {
			w = &imported{ports: imp.Ports}
			want[imp.Key] = w
		}
		w.clusters = append(w.clusters, imp.Cluster)
	}
	var errs []error
	for key, w := range want {
		si := &mcsv1a1.ServiceImport{
			TypeMeta:   metav1.TypeMeta{APIVersion: mcsv1a1.GroupVersion.String(), Kind: "ServiceImport"},
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: managedBy},
			Spec:       mcsv1a1.ServiceImportSpec{Type: mcsv1a1.ClusterSetIP},
		}
		for _, p := range w.ports {
			si.Spec.Ports = append(si.Spec.Ports, mcsv1a1.ServicePort{Name: p.Name, Port: int32(p.Port), Protocol: corev1.ProtocolTCP})
		}
		if svc := m.Service(key); svc != nil {
			for _, v := range svc.VIPs {
				si.Spec.IPs = append(si.Spec.IPs, v.String())
			}
		}
		sort.Strings(w.clusters)
		if err := applyObject(ctx, r.Client, si); err != nil {
			if !apierrors.IsNotFound(err) { // its namespace does not exist here
				errs = append(errs, fmt.Errorf("ServiceImport %s: %w", key, err))
			}
			continue
		}
		patch := client.MergeFrom(si.DeepCopy())
		si.Status.Clusters = nil
		for _, c := range w.clusters {
			si.Status.Clusters = append(si.Status.Clusters, mcsv1a1.ClusterStatus{Cluster: c})
		}
		if err := r.Client.Status().Patch(ctx, si, patch); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("status of ServiceImport %s: %w", key, err))
		}
	}
	var existing mcsv1a1.ServiceImportList
	if err := r.Client.List(ctx, &existing, client.MatchingLabels(managedBy)); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for i := range existing.Items {
		si := &existing.Items[i]
		if want[model.NamespacedName{Namespace: si.Namespace, Name: si.Name}] == nil {
			errs = append(errs, client.IgnoreNotFound(r.Client.Delete(ctx, si)))
		}
	}
	return errors.Join(errs...)
}
