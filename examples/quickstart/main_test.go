package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sqlreplica/sqlreplica/internal/testcluster"
)

func TestConfigFrom(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr string
	}{
		{
			name:    "nothing set",
			env:     map[string]string{},
			wantErr: "SQLREPLICA_PRIMARY and SQLREPLICA_REPLICAS not set",
		},
		{
			name:    "no replicas",
			env:     map[string]string{"SQLREPLICA_PRIMARY": "p", "SQLREPLICA_REPLICAS": " , "},
			wantErr: "SQLREPLICA_REPLICAS not set",
		},
		{
			name:    "unknown driver",
			env:     map[string]string{"SQLREPLICA_DRIVER": "sqlite", "SQLREPLICA_PRIMARY": "p", "SQLREPLICA_REPLICAS": "r"},
			wantErr: `SQLREPLICA_DRIVER="sqlite": want pgx or mysql`,
		},
		{
			name: "pgx by default, replicas split on commas",
			env:  map[string]string{"SQLREPLICA_PRIMARY": "p", "SQLREPLICA_REPLICAS": "r1, r2,"},
			want: config{driver: "pgx", primary: "p", replicas: []string{"r1", "r2"}},
		},
		{
			name: "mysql",
			env:  map[string]string{"SQLREPLICA_DRIVER": "mysql", "SQLREPLICA_PRIMARY": "p", "SQLREPLICA_REPLICAS": "r"},
			want: config{driver: "mysql", primary: "p", replicas: []string{"r"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := configFrom(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("config = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestQuickstartOnPostgres runs the program's logic against a PostgreSQL
// primary and two replicas (the second applying changes two seconds late),
// configured from the environment the cluster command prints: reads without
// a session run on replicas, the transaction on the primary, and the
// session's read finds the row just inserted, whichever node serves it.
// It runs twice, as a user would, on the table the first run created.
func TestQuickstartOnPostgres(t *testing.T) {
	c := testcluster.Start(t, testcluster.Postgres, testcluster.Options{Replicas: 2, Delay: 2 * time.Second})
	env := map[string]string{}
	for _, kv := range c.Env() {
		env[kv[0]] = kv[1]
	}
	cfg, err := configFrom(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]string{fmt.Sprint(c.Primary.Port): "the primary"}
	for _, r := range c.Replicas {
		ports[fmt.Sprint(r.Port)] = "a replica"
	}
	line := regexp.MustCompile(`^(.*) on port (\d+), (the primary|a replica)$`)
	for attempt := 1; attempt <= 2; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var out strings.Builder
		err := run(ctx, cfg, &out)
		cancel()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", attempt, err, out.String())
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		want := []struct{ prefix, role string }{
			{"SELECT: ran", "a replica"},
			{"SELECT: ran", "a replica"},
			{"CREATE TABLE, INSERT in the session: ran", "the primary"},
			{`SELECT in the session: found "ada"`, ""},
		}
		if len(lines) != len(want) {
			t.Fatalf("run %d printed %d lines, want %d:\n%s", attempt, len(lines), len(want), out.String())
		}
		for i, w := range want {
			m := line.FindStringSubmatch(lines[i])
			if m == nil || m[1] != w.prefix {
				t.Fatalf("run %d, line %d: %q, want %q on port …", attempt, i+1, lines[i], w.prefix)
			}
			// The server's own answer must agree with the cluster's map.
			if ports[m[2]] != m[3] {
				t.Errorf("run %d, line %d: port %s said %q, but it is %q", attempt, i+1, m[2], m[3], ports[m[2]])
			}
			if w.role != "" && m[3] != w.role {
				t.Errorf("run %d, line %d: ran on %s, want %s", attempt, i+1, m[3], w.role)
			}
		}
	}
}
