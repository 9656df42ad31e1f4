package replica

import (
	"strings"
	"testing"
	"time"
)

func TestLearnable(t *testing.T) {
	for name, want := range map[string]bool{
		"f": true, "order_total": true, "app.order_total": true, "f1$": true, "_x._y": true,
		"": false, "F": false, "app.F": false, "App.f": false, "a.b.c": false, ".f": false, "f.": false,
		"1f": false, "a b": false, `pg_adv\0069sory_lock`: false, "é": false,
		strings.Repeat("a", 64): true, strings.Repeat("a", 65): false, "s." + strings.Repeat("a", 65): false,
	} {
		if got := learnable(name); got != want {
			t.Errorf("learnable(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestLearnFunctionQueuesOnceAndIsBounded checks, without a server, that a
// name is queued once while pending or known, that a negative verdict is
// retried only after the retry time, that a full queue drops names rather
// than block, and that a known name costs no allocation.
func TestLearnFunctionQueuesOnceAndIsBounded(t *testing.T) {
	db := &DB{}
	db.funcs.queue = make(chan string, 2)
	db.learnFunction("f")
	db.learnFunction("f")
	db.learnFunction("App.F") // not learnable: never queued
	if len(db.funcs.queue) != 1 {
		t.Fatalf("queued %d names, want 1", len(db.funcs.queue))
	}
	db.learnFunction("g")
	db.learnFunction("h") // the queue is full: dropped, not blocked
	if len(db.funcs.queue) != 2 {
		t.Fatalf("queued %d names, want 2", len(db.funcs.queue))
	}
	if _, ok := db.funcs.verdicts["h"]; ok {
		t.Fatal("a dropped name is remembered as pending")
	}
	<-db.funcs.queue
	<-db.funcs.queue
	db.funcs.mu.Lock()
	db.funcs.verdicts["f"] = funcVerdict{at: time.Now()}
	db.funcs.mu.Unlock()
	db.learnFunction("f") // negative and fresh: not again
	if len(db.funcs.queue) != 0 {
		t.Fatal("a fresh negative verdict was looked up again")
	}
	if !raceOn {
		if n := testing.AllocsPerRun(100, func() { db.learnFunction("f") }); n != 0 {
			t.Errorf("learnFunction of a known name allocates %v times", n)
		}
	}
	db.funcs.mu.Lock()
	db.funcs.retry = time.Nanosecond
	db.funcs.mu.Unlock()
	time.Sleep(time.Millisecond) // let the nanosecond retry time pass
	db.learnFunction("f")
	if len(db.funcs.queue) != 1 {
		t.Fatal("a stale negative verdict was not looked up again")
	}
	db.funcs.mu.Lock()
	for i := 0; len(db.funcs.verdicts) < maxVerdicts; i++ {
		db.funcs.verdicts[strings.Repeat("x", 1+i%50)+string(rune('a'+i/50%26))+string(rune('a'+i/1300))] = funcVerdict{at: time.Now()}
	}
	db.funcs.mu.Unlock()
	<-db.funcs.queue
	db.learnFunction("brand_new") // full of negatives: they are forgotten to make room
	db.funcs.mu.Lock()
	n := len(db.funcs.verdicts)
	db.funcs.mu.Unlock()
	if n > maxVerdicts || len(db.funcs.queue) != 1 {
		t.Fatalf("%d verdicts, %d queued after a full cache", n, len(db.funcs.queue))
	}
}
