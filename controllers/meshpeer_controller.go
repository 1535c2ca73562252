package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/federation"
	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/model/kube"
)

// Reasons of MeshPeer conditions.
const (
	ReasonConnected        = "Connected"
	ReasonDisconnected     = "Disconnected"
	ReasonBundleFetched    = "BundleFetched"
	ReasonInitialBundle    = "InitialBundle"
	ReasonBundleFailed     = "BundleFetchFailed"
	ReasonPeerInvalid      = "InvalidPeer"
	ReasonFederating       = "Federating"
	ReasonExportsRefused   = "ExportsRefused"
	ReasonNoMesh           = "NoMesh"
	meshPeerStatusInterval = 10 * time.Second
)

// MeshPeerReconciler federates the mesh with the peers MeshPeers declare:
// it reads each one's initial trust bundle from its Secret, hands them to
// federation, and reports in each MeshPeer's status whether its stream is
// connected, when it last synced, how many services it imports, and
// whether its trust bundle is current.
type MeshPeerReconciler struct {
	Client client.Client
	// Reader reads the bundle Secrets without caching every Secret.
	Reader client.Reader
	// Federation returns the federation of the mesh with settings,
	// started on first use; nil when it cannot start.
	Federation func(model.Settings) *federation.Manager
	// Ctx bounds the peers' watchers: the operator's lifetime.
	Ctx context.Context
	// MayWrite says whether this replica writes MeshPeer status: the
	// leader does. Every replica federates, so that each one's CA hands
	// out the peers' bundles and each one's model has their imports. Nil:
	// always.
	MayWrite func() bool
}

var peersKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: "mesh-peers"}}

// +kubebuilder:rbac:groups=mesh.plexus.dev,resources=meshpeers,verbs=get;list;watch
// +kubebuilder:rbac:groups=mesh.plexus.dev,resources=meshpeers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// Reconcile applies every MeshPeer and refreshes their status.
func (r *MeshPeerReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	var meshes meshv1.MeshList
	if err := r.Client.List(ctx, &meshes); err != nil {
		return ctrl.Result{}, err
	}
	var peers meshv1.MeshPeerList
	if err := r.Client.List(ctx, &peers); err != nil {
		return ctrl.Result{}, err
	}
	mesh := effectiveMesh(meshes.Items)
	if mesh == nil {
		var errs []error
		for i := range peers.Items {
			errs = append(errs, r.writeStatus(ctx, &peers.Items[i], []metav1.Condition{cond(meshv1.ConditionReady, false, ReasonNoMesh, "no Mesh in this cluster: create one; federation starts with it")}, nil))
		}
		return ctrl.Result{}, errors.Join(errs...)
	}
	settings, err := kube.Settings(mesh)
	if err != nil {
		return ctrl.Result{}, err
	}
	mgr := r.Federation(settings)
	if mgr == nil {
		return ctrl.Result{RequeueAfter: meshPeerStatusInterval}, nil
	}
	items := make([]*meshv1.MeshPeer, len(peers.Items))
	for i := range peers.Items {
		items[i] = &peers.Items[i]
	}
	configs, invalid := federation.PeerConfigs(settings.ClusterName, settings.TrustDomain, items, func(mp *meshv1.MeshPeer) ([]byte, error) {
		return r.bundle(ctx, mp)
	})
	mgr.SetPeers(r.Ctx, configs)
	states := mgr.States()
	var errs []error
	for i := range peers.Items {
		mp := &peers.Items[i]
		if err := invalid[mp.Name]; err != nil {
			errs = append(errs, r.writeStatus(ctx, mp, []metav1.Condition{cond(meshv1.ConditionReady, false, ReasonPeerInvalid, err.Error())}, nil))
			continue
		}
		st, ok := states[mp.Name]
		if !ok {
			continue
		}
		errs = append(errs, r.writeStatus(ctx, mp, peerConditions(mp, st), &st))
	}
	return ctrl.Result{RequeueAfter: meshPeerStatusInterval}, errors.Join(errs...)
}

// bundle reads a MeshPeer's initial trust bundle from its Secret.
func (r *MeshPeerReconciler) bundle(ctx context.Context, mp *meshv1.MeshPeer) ([]byte, error) {
	ns, name, key := federation.BundleSecret(mp)
	var secret corev1.Secret
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &secret); err != nil {
		return nil, fmt.Errorf("trust bundle Secret %s/%s: %w", ns, name, err)
	}
	data, ok := secret.Data[key]
	if !ok {
		return nil, fmt.Errorf("trust bundle Secret %s/%s has no key %q", ns, name, key)
	}
	return data, nil
}

// peerConditions report a peer's federation. A bundle fetch that fails
// after an earlier one succeeded shows in TrustBundleSynced but does not
// make the peer unready: the last bundle is still trusted. Exports the peer
// sends that are refused show in Ready's message, and make it false when
// nothing of the peer is imported because of them.
func peerConditions(mp *meshv1.MeshPeer, st federation.PeerState) []metav1.Condition {
	var conds []metav1.Condition
	if st.Connected {
		conds = append(conds, cond(meshv1.ConditionConnected, true, ReasonConnected, fmt.Sprintf("watching exports at %s", mp.Spec.FederationEndpoint)))
	} else {
		msg := "not connected yet"
		if st.Err != nil {
			msg = st.Err.Error()
		}
		if st.Imports != nil {
			msg += fmt.Sprintf("; keeping its %d imports until the staleness limit", len(st.Imports))
		}
		conds = append(conds, cond(meshv1.ConditionConnected, false, ReasonDisconnected, msg))
	}
	bundleUsable := true
	switch {
	case mp.Spec.TrustBundle.EndpointURL == "":
		conds = append(conds, cond(meshv1.ConditionTrustBundleSynced, true, ReasonInitialBundle, "using the bundle from the Secret; set trustBundle.endpointURL to refresh it"))
	case st.Bundle.LastRefresh.IsZero():
		bundleUsable = false
		msg := "not fetched yet"
		if st.Bundle.Err != nil {
			msg = st.Bundle.Err.Error()
		}
		conds = append(conds, cond(meshv1.ConditionTrustBundleSynced, false, ReasonBundleFailed, msg))
	case st.Bundle.Err != nil:
		conds = append(conds, cond(meshv1.ConditionTrustBundleSynced, false, ReasonBundleFailed,
			fmt.Sprintf("%v; trusting the bundle fetched at %s", st.Bundle.Err, st.Bundle.LastRefresh.UTC().Format(time.RFC3339))))
	default:
		conds = append(conds, cond(meshv1.ConditionTrustBundleSynced, true, ReasonBundleFetched, "fetched from "+mp.Spec.TrustBundle.EndpointURL))
	}
	refused := st.Connected && st.Err != nil
	switch {
	case !st.Connected || !bundleUsable:
		return append(conds, cond(meshv1.ConditionReady, false, ReasonFederating, "see the Connected and TrustBundleSynced conditions"))
	case refused && st.Imports == nil:
		return append(conds, cond(meshv1.ConditionReady, false, ReasonExportsRefused, "the peer's exports are refused: "+st.Err.Error()))
	case refused:
		return append(conds, cond(meshv1.ConditionReady, true, ReasonExportsRefused, fmt.Sprintf("importing %d services; some of the peer's exports are refused: %v", len(st.Imports), st.Err)))
	}
	return append(conds, cond(meshv1.ConditionReady, true, ReasonFederating, fmt.Sprintf("importing %d services", len(st.Imports))))
}

func (r *MeshPeerReconciler) writeStatus(ctx context.Context, mp *meshv1.MeshPeer, conds []metav1.Condition, st *federation.PeerState) error {
	if r.MayWrite != nil && !r.MayWrite() {
		return nil
	}
	before := mp.DeepCopy()
	mp.Status.ObservedGeneration = mp.Generation
	for _, c := range conds {
		c.ObservedGeneration = mp.Generation
		meta.SetStatusCondition(&mp.Status.Conditions, c)
	}
	if st != nil {
		if !st.LastSync.IsZero() {
			t := metav1.NewTime(st.LastSync.Truncate(time.Second))
			mp.Status.LastSyncTime = &t
		}
		if !st.Bundle.LastRefresh.IsZero() {
			t := metav1.NewTime(st.Bundle.LastRefresh.Truncate(time.Second))
			mp.Status.LastBundleRefreshTime = &t
		}
		mp.Status.ImportedServices = int32(len(st.Imports))
	}
	if equality.Semantic.DeepEqual(before.Status, mp.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, mp, client.MergeFrom(before)); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}

// SetupWithManager watches MeshPeers and Meshes; status follows the peers
// every few seconds.
func (r *MeshPeerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request { return []reconcile.Request{peersKey} })
	return ctrl.NewControllerManagedBy(mgr).
		Named("mesh-peer").
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false)}).
		Watches(&meshv1.MeshPeer{}, all).
		Watches(&meshv1.Mesh{}, all).
		Complete(r)
}
