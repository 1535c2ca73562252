package inject

import (
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// spireVolume mounts the SPIRE agent's socket directory.
const spireVolume = "spire-agent-socket"

// The proxy's certificate comes from the Plexus CA (a projected token and
// the CA roots) or, with SPIRE, from the agent's Workload API socket.
// Gateways, which the operator deploys itself, get theirs the same way.

// IdentityArgs are the proxy flags that say where its certificate comes
// from.
func IdentityArgs(c Config) []string {
	if c.WorkloadAPISocket != "" {
		return []string{"--spiffe-socket=" + c.WorkloadAPISocket}
	}
	return []string{"--ca-address=" + c.CAAddress, "--ca-root-file=" + caRootDir + "/" + CARootKey, "--credential-file=" + TokenDir + "/token"}
}

func socketDir(c Config) string {
	return path.Dir(strings.TrimPrefix(c.WorkloadAPISocket, "unix://"))
}

// IdentityVolumes are the pod volumes IdentityMounts mount.
func IdentityVolumes(c Config) []corev1.Volume {
	if c.WorkloadAPISocket != "" {
		return []corev1.Volume{{
			Name:         spireVolume,
			VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "csi.spiffe.io", ReadOnly: ptr.To(true)}},
		}}
	}
	return []corev1.Volume{{
		Name: TokenVolume,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
			ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: TokenAudience, ExpirationSeconds: ptr.To[int64](3600), Path: "token"},
		}}}},
	}, {
		Name:         caRootVolume,
		VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: CARootConfigMap}}},
	}}
}

// IdentityMounts are the proxy container's mounts for IdentityArgs.
func IdentityMounts(c Config) []corev1.VolumeMount {
	if c.WorkloadAPISocket != "" {
		return []corev1.VolumeMount{{Name: spireVolume, MountPath: socketDir(c), ReadOnly: true}}
	}
	return []corev1.VolumeMount{
		{Name: TokenVolume, MountPath: TokenDir, ReadOnly: true},
		{Name: caRootVolume, MountPath: caRootDir, ReadOnly: true},
	}
}
