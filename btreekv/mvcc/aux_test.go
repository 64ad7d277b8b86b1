package mvcc

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
)

func auxString(recs []AuxRecord) string {
	s := ""
	for _, r := range recs {
		s += fmt.Sprintf("%s=%s;", r.Key, r.Value)
	}
	return s
}

// The auxiliary table is read back as applied, survives a reopen once
// committed with its index, and a crash loses exactly the uncommitted
// records together with the index that carried them.
func TestAuxTable(t *testing.T) {
	disk := fsx.NewMem()
	s := openMem(t, disk, 1000)
	tw := s.Write(1, 1)
	for _, kv := range [][2]string{{"m/2", "b"}, {"m/1", "a"}, {"x/1", "x"}} {
		if err := tw.PutAux([]byte(kv[0]), []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.End(); err != nil {
		t.Fatal(err)
	}
	if got := auxString(s.Aux([]byte("m/"))); got != "m/1=a;m/2=b;" {
		t.Fatalf("Aux(m/) = %q", got)
	}
	if s.Rev() != 1 {
		t.Fatalf("aux writes changed the revision to %d (want 1, the empty store's)", s.Rev())
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	tw = s.Write(2, 1)
	if err := tw.PutAux([]byte("m/1"), nil); err != nil {
		t.Fatal(err)
	}
	if err := tw.End(); err != nil {
		t.Fatal(err)
	}
	if got := auxString(s.Aux([]byte("m/"))); got != "m/2=b;" {
		t.Fatalf("after delete Aux(m/) = %q", got)
	}
	// Crash before the delete is committed: it is lost, with index 2.
	s = openMem(t, disk.Crash(fsx.LoseUnsynced, rand.New(rand.NewPCG(1, 2))), 1000)
	if got := auxString(s.Aux(nil)); got != "m/1=a;m/2=b;x/1=x;" || s.ConsistentIndex() != 1 {
		t.Fatalf("after crash: Aux = %q at index %d; want the committed state at index 1", got, s.ConsistentIndex())
	}
	tw = s.Write(3, 1)
	if err := tw.PutAux(nil, []byte("v")); err == nil {
		t.Fatal("empty aux key accepted")
	}
	_ = tw.End()
}
