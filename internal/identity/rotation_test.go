package identity

import (
	"testing"
	"time"
)

// TestRotationPhases walks a rotation with a fake clock: the new root is
// trusted before it signs, and the old one stays trusted until every
// certificate it signed has been renewed.
func TestRotationPhases(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const overlap = 24 * time.Hour
	s, err := NewRootState(td, t0)
	if err != nil {
		t.Fatal(err)
	}
	old := s.Roots[0]
	step := func(s *RootState, request string, at time.Time, wantChange bool) *RootState {
		t.Helper()
		next, changed, err := s.Step(td, request, overlap, at)
		if err != nil {
			t.Fatal(err)
		}
		if changed != wantChange {
			t.Fatalf("at %s in phase %q: changed = %v, want %v", at.Sub(t0), s.Phase, changed, wantChange)
		}
		return next
	}
	s = step(s, "", t0, false)
	s = step(s, "ticket-1", t0, true)
	if s.Phase != PhaseDistributing || len(s.Roots) != 2 || !s.Roots[0].Equal(old) || s.NextKey == nil {
		t.Fatalf("distributing: %+v", s)
	}
	newRoot := s.Roots[1]
	ca, err := s.CA(td)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.chain[0].Equal(old) || len(ca.Roots()) != 2 {
		t.Fatal("while distributing, the old root signs and both are trusted")
	}
	s = step(s, "ticket-1", t0.Add(overlap-time.Second), false)
	s = step(s, "ticket-1", t0.Add(overlap), true)
	if ca, _ = s.CA(td); s.Phase != PhaseSwitched || !ca.chain[0].Equal(newRoot) || len(ca.Roots()) != 2 || !ca.Roots()[1].Equal(old) {
		t.Fatalf("switched: the new root signs, the old is still trusted: %+v", s)
	}
	s = step(s, "ticket-1", t0.Add(2*overlap-time.Second), false)
	s = step(s, "ticket-1", t0.Add(2*overlap), true)
	if s.Phase != PhaseSteady || len(s.Roots) != 1 || !s.Roots[0].Equal(newRoot) {
		t.Fatalf("steady: only the new root: %+v", s)
	}
	// The same request does not rotate again; a new one does.
	s = step(s, "ticket-1", t0.Add(3*overlap), false)
	step(s, "ticket-2", t0.Add(3*overlap), true)
}

func TestFileStoreKeepsRotationState(t *testing.T) {
	store := FileStore{Dir: t.TempDir()}
	s, err := store.Load(t.Context(), td)
	if err != nil {
		t.Fatal(err)
	}
	next, _, err := s.Step(td, "r1", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(t.Context(), next); err != nil {
		t.Fatal(err)
	}
	back, err := store.Load(t.Context(), td)
	if err != nil {
		t.Fatal(err)
	}
	if back.Phase != PhaseDistributing || len(back.Roots) != 2 || back.NextKey == nil || back.Handled != "r1" || !back.Since.Equal(next.Since.Round(0)) {
		t.Fatalf("state read back: %+v", back)
	}
}
