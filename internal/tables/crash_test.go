package tables

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const crashAccounts = 8

func quietService(t testing.TB, dir string) *Service {
	t.Helper()
	s, err := Open(Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func transfer(ctx context.Context, s *Service, from, to int, entry string) error {
	one := map[string]Value{":one": N("1")}
	return s.TransactWriteItems(ctx, TransactWriteInput{Items: []TransactWriteItem{
		{Update: &UpdateInput{Table: "accounts", Key: Item{"id": N(fmt.Sprint(from))}, Update: "SET balance = balance - :one", Values: one}},
		{Update: &UpdateInput{Table: "accounts", Key: Item{"id": N(fmt.Sprint(to))}, Update: "SET balance = balance + :one", Values: one}},
		{Put: &PutInput{Table: "ledger", Item: Item{"id": S(entry), "from": N(fmt.Sprint(from)), "to": N(fmt.Sprint(to))},
			Condition: Condition{Expression: "attribute_not_exists(id)"}}},
	}})
}

// TestCrashChild is the process TestKillDuringTransactions kills: it runs
// transfers from several goroutines and prints each one once it is
// acknowledged.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("NIMBUS_TABLES_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestKillDuringTransactions")
	}
	s := quietService(t, dir)
	ctx := context.Background()
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				entry := fmt.Sprintf("w%d-%d", w, i)
				from, to := (w+i)%crashAccounts, (w+3*i+1)%crashAccounts
				if from == to {
					to = (to + 1) % crashAccounts
				}
				if err := transfer(ctx, s, from, to, entry); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintln(out, "ack", entry)
				_ = out.Flush()
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
}

// TestKillDuringTransactions kills (SIGKILL) a process in the middle of
// concurrent transactions: after reopening, every acknowledged transaction
// is there and no transaction is half applied.
func TestKillDuringTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := filepath.Join(t.TempDir(), "tables")
	s := quietService(t, dir)
	ctx := context.Background()
	for _, name := range []string{"accounts", "ledger"} {
		typ := "N"
		if name == "ledger" {
			typ = "S"
		}
		if _, err := s.CreateTable(ctx, TableSpec{TableName: name, BillingMode: "PAY_PER_REQUEST",
			AttributeDefinitions: []AttributeDefinition{{AttributeName: "id", AttributeType: typ}}, KeySchema: []KeyElement{{AttributeName: "id", KeyType: "HASH"}}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < crashAccounts; i++ {
		if _, err := s.PutItem(ctx, PutInput{Table: "accounts", Item: Item{"id": N(fmt.Sprint(i)), "balance": N("1000")}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NIMBUS_TABLES_CRASH_DIR="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	lines := bufio.NewScanner(stdout)
	deadline := time.Now().Add(60 * time.Second)
	for len(acked) < 300 && time.Now().Before(deadline) && lines.Scan() {
		if entry, ok := strings.CutPrefix(lines.Text(), "ack "); ok {
			acked[entry] = true
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	// Acknowledgements already written before the kill count too.
	for lines.Scan() {
		if entry, ok := strings.CutPrefix(lines.Text(), "ack "); ok {
			acked[entry] = true
		}
	}
	_ = cmd.Wait()
	if len(acked) < 10 {
		t.Fatalf("only %d transactions acknowledged before the kill", len(acked))
	}

	s = quietService(t, dir)
	defer s.Close()
	net := map[string]int{}
	entries := 0
	var start Item
	for {
		page, err := s.Scan(ctx, ScanInput{ReadInput: ReadInput{Table: "ledger", ExclusiveStartKey: start}})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			entries++
			delete(acked, it["id"].S)
			net[it["from"].S]--
			net[it["to"].S]++
		}
		if start = page.LastEvaluatedKey; start == nil {
			break
		}
	}
	if len(acked) > 0 {
		t.Fatalf("%d acknowledged transactions lost", len(acked))
	}
	for i := 0; i < crashAccounts; i++ {
		it, err := s.GetItem(ctx, GetInput{Table: "accounts", Key: Item{"id": N(fmt.Sprint(i))}})
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprint(1000 + net[fmt.Sprint(i)])
		if it["balance"].S != want {
			t.Fatalf("account %d holds %s, its ledger says %s: a transaction was half applied", i, it["balance"].S, want)
		}
	}
	t.Logf("%d transactions survived the kill", entries)
}
