package journal_test

import (
	"fmt"
	"log"
	"os"

	"xmppkit.dev/journal"
)

// Keep a counter durable: each change is a record, the state is rebuilt by
// replaying them, and compaction folds the history into one record.
func Example() {
	dir, _ := os.MkdirTemp("", "journal-example")
	defer os.RemoveAll(dir)

	total := 0
	replay := func(rec []byte) error {
		var n int
		_, err := fmt.Sscan(string(rec), &n)
		total += n
		return err
	}
	l, err := journal.Open(dir, journal.Options{}, replay)
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range []int{5, 7, 30} {
		if err := l.AppendSync([]byte(fmt.Sprint(n))); err != nil { // durable when it returns
			log.Fatal(err)
		}
		total += n
	}
	l.Compact(func(write func([]byte) error) error { return write([]byte(fmt.Sprint(total))) })
	l.Close()

	total = 0
	l, err = journal.Open(dir, journal.Options{}, replay)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	fmt.Println(total, l.Records())
	// Output: 42 0
}
