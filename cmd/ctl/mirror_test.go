package main

import (
	"strings"
	"testing"
	"time"
)

func TestMirrorDestKey(t *testing.T) {
	tests := []struct {
		o    mirrorOptions
		key  string
		want string
	}{
		{mirrorOptions{}, "a/b", "a/b"},
		{mirrorOptions{prefix: "a/"}, "a/b", "a/b"},
		{mirrorOptions{prefix: "a/", destPrefix: "z/", replacePrefix: true}, "a/b", "z/b"},
		{mirrorOptions{prefix: "a/", replacePrefix: true}, "a/b", "b"},
		{mirrorOptions{destPrefix: "copy/", replacePrefix: true}, "a/b", "copy/a/b"},
	}
	for _, tt := range tests {
		if got := tt.o.destKey([]byte(tt.key)); got != tt.want {
			t.Errorf("%+v: %q goes to %q, want %q", tt.o, tt.key, got, tt.want)
		}
	}
}

func TestMirrorOptionsCheck(t *testing.T) {
	good := mirrorOptions{from: "http://127.0.0.1:2379", maxTxnOps: 128, progressEvery: time.Second}
	if err := good.check(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mutate func(*mirrorOptions)
		want   string
	}{
		{func(o *mirrorOptions) { o.from = "" }, "--from"},
		{func(o *mirrorOptions) { o.maxTxnOps = 0 }, "--max-txn-ops"},
		{func(o *mirrorOptions) { o.progressEvery = 0 }, "--progress-interval"},
		{func(o *mirrorOptions) { o.user = "root" }, "name:password"},
	}
	for _, tt := range tests {
		o := good
		tt.mutate(&o)
		if err := o.check(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want one mentioning %q", err, tt.want)
		}
	}
}
