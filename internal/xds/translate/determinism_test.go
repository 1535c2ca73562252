package translate

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestTranslationIsDeterministic shuffles every list of the model before
// sorting it and checks the resources do not change: the same mesh must
// give byte-identical xDS, or every proxy would get needless pushes.
func TestTranslationIsDeterministic(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		want := translateResources(t, in)
		m, p := loadModel(t, in)
		for range 5 {
			shuffle(m.Services)
			shuffle(m.Routes)
			shuffle(m.TrafficPolicies)
			shuffle(m.AuthorizationPolicies)
			shuffle(m.Workloads)
			for _, s := range m.Services {
				shuffle(s.Endpoints)
				shuffle(s.Ports)
			}
			m.Sort()
			got := Translate(m, p)
			for i, pair := range [][2][]proto.Message{
				{messages(want.Clusters), messages(got.Clusters)},
				{messages(want.Endpoints), messages(got.Endpoints)},
				{messages(want.Listeners), messages(got.Listeners)},
				{messages(want.Routes), messages(got.Routes)},
			} {
				if len(pair[0]) != len(pair[1]) {
					t.Fatalf("%s: list %d changed length", in, i)
				}
				for j := range pair[0] {
					if !proto.Equal(pair[0][j], pair[1][j]) {
						t.Fatalf("%s: resource %d of list %d changed after reordering the model", in, j, i)
					}
				}
			}
		}
	}
}

func shuffle[T any](s []T) {
	rand.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
}
