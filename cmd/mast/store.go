package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/mastmq/mast/config"
	"github.com/mastmq/mast/store"
	pebblestore "github.com/mastmq/mast/store/pebble"
)

const storeUsage = `usage: mast store COMMAND [--data-dir DIR] [flags]

Work on the data directory of a stopped broker (a running one holds a lock
on it, and these commands refuse to run beside it):

  inspect   print the format version, the directory's size, and the count
            and size of each kind of record
  export    write every record as JSON lines (one object per line with a
            "kind" of session, outbound, inbound or retained; payloads and
            properties in base64) to standard output or -o FILE
  import    read such lines from standard input or -i FILE into the store,
            creating it if need be; a record with the key of one already
            there replaces it
  compact   rewrite the store's files, dropping deleted records
`

func runStore(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, storeUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("mast store "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data-dir", config.DefaultDataDir, "the data `directory`")
	var in, out *string
	switch sub {
	case "inspect", "compact":
	case "export":
		out = fs.String("o", "", "write to `file` instead of standard output")
	case "import":
		in = fs.String("i", "", "read from `file` instead of standard input")
	default:
		fmt.Fprintf(stderr, "mast store: unknown command %q\n\n%s", sub, storeUsage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mast store %s: unexpected argument %q\n", sub, fs.Arg(0))
		return 2
	}
	var err error
	switch sub {
	case "inspect":
		err = storeInspect(*dir, stdout, stderr)
	case "export":
		err = storeExport(*dir, *out, stdout, stderr)
	case "import":
		err = storeImport(*dir, *in, os.Stdin, stdout, stderr)
	case "compact":
		err = storeCompact(*dir, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mast store %s: %v\n", sub, err)
		return 1
	}
	return 0
}

// openForTool opens the store in dir for one of the commands: it must
// exist unless create, and no broker may hold it (store.ErrLocked).
func openForTool(dir string, create bool, stderr io.Writer) (*pebblestore.Store, error) {
	// Pebble's errors go to stderr; its chatter stays out.
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	s, err := pebblestore.Open(dir, &pebblestore.Options{Logger: logger, MustExist: !create})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no mast data directory at %s (see --data-dir)", dir)
	}
	return s, err
}

func storeInspect(dir string, stdout, stderr io.Writer) error {
	s, err := openForTool(dir, false, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	stats, err := s.Stats()
	if err != nil {
		return err
	}
	size, files, err := dirSize(s.Dir())
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "data directory\t%s\n", s.Dir())
	fmt.Fprintf(w, "format version\t%d\n", pebblestore.FormatVersion)
	fmt.Fprintf(w, "directory size\t%s (%d bytes in %d files)\n", humanBytes(size), size, files)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "kind\trecords\tbytes")
	var total store.KindStats
	for _, k := range store.Kinds() {
		st := stats[k]
		total.Count += st.Count
		total.Bytes += st.Bytes
		fmt.Fprintf(w, "%s\t%d\t%d\n", k, st.Count, st.Bytes)
	}
	fmt.Fprintf(w, "total\t%d\t%d\n", total.Count, total.Bytes)
	return w.Flush()
}

func storeCompact(dir string, stdout, stderr io.Writer) error {
	s, err := openForTool(dir, false, stderr)
	if err != nil {
		return err
	}
	before, _, err := dirSize(s.Dir())
	if err != nil {
		s.Close()
		return err
	}
	start := time.Now()
	if err := s.Compact(); err != nil {
		s.Close()
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	after, _, err := dirSize(s.Dir())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "compacted %s in %v: %s -> %s\n", s.Dir(), time.Since(start).Round(time.Millisecond),
		humanBytes(before), humanBytes(after))
	return nil
}

func storeExport(dir, out string, stdout, stderr io.Writer) (err error) {
	s, err := openForTool(dir, false, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	w := stdout
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var n int
	err = s.Load(store.Visitor{
		Session:  func(x *store.Session) error { n++; return enc.Encode(sessionJSON(x)) },
		Outbound: func(x *store.Outbound) error { n++; return enc.Encode(outboundJSON(x)) },
		Inbound: func(id string, pid uint16) error {
			n++
			return enc.Encode(jsonInbound{Kind: store.KindInbound, ClientID: id, PacketID: pid})
		},
		Retained: func(x *store.Message) error {
			n++
			return enc.Encode(jsonRetained{Kind: store.KindRetained, jsonMessage: messageJSON(x)})
		},
	})
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("after %d records: %w", n, err)
	}
	return nil
}

// importBatch is how many records one commit of an import holds.
const importBatch = 1000

func storeImport(dir, in string, stdin io.Reader, stdout, stderr io.Writer) error {
	r := stdin
	if in != "" {
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	s, err := openForTool(dir, true, stderr)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	n, err := importRecords(s, bufio.NewReaderSize(r, 1<<16), counts)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%w (%d records were imported before it)", err, n)
	}
	fmt.Fprintf(stdout, "imported %d records into %s: %d sessions, %d outbound, %d inbound, %d retained\n",
		n, s.Dir(), counts[store.KindSession], counts[store.KindOutbound], counts[store.KindInbound], counts[store.KindRetained])
	return nil
}

// importRecords commits the records r holds, importBatch at a time, and
// returns how many it committed.
func importRecords(s store.Store, r io.Reader, counts map[string]int) (int, error) {
	dec := json.NewDecoder(r)
	var b store.Batch
	done, pending := 0, map[string]int{}
	flush := func(sync bool) error {
		if err := s.Commit(&b, sync); err != nil {
			return fmt.Errorf("records %d to %d: %w", done+1, done+b.Len(), err)
		}
		for k, c := range pending {
			counts[k] += c
		}
		clear(pending)
		done += b.Len()
		b.Reset()
		return nil
	}
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			return done, fmt.Errorf("record %d: %w", done+b.Len()+1, err)
		}
		kind, err := decodeRecord(raw, &b)
		if err != nil {
			return done, fmt.Errorf("record %d: %w", done+b.Len()+1, err)
		}
		pending[kind]++
		if b.Len() >= importBatch {
			if err := flush(false); err != nil {
				return done, err
			}
		}
	}
	return done, flush(true)
}

// decodeRecord adds the op for one exported record to b.
func decodeRecord(raw []byte, b *store.Batch) (string, error) {
	var head struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return "", err
	}
	strict := func(v any) error {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		return d.Decode(v)
	}
	switch head.Kind {
	case store.KindSession:
		var j jsonSession
		if err := strict(&j); err != nil {
			return "", err
		}
		b.PutSession(j.session())
	case store.KindOutbound:
		var j jsonOutbound
		if err := strict(&j); err != nil {
			return "", err
		}
		b.PutOutbound(j.outbound())
	case store.KindInbound:
		var j jsonInbound
		if err := strict(&j); err != nil {
			return "", err
		}
		b.PutInbound(j.ClientID, j.PacketID)
	case store.KindRetained:
		var j jsonRetained
		if err := strict(&j); err != nil {
			return "", err
		}
		m := j.jsonMessage.message()
		b.PutRetained(&m)
	default:
		return "", fmt.Errorf("unknown kind %q (want session, outbound, inbound or retained)", head.Kind)
	}
	return head.Kind, nil
}

// The export format. Byte slices are base64 in JSON; null and "" keep
// nil and empty apart, as the store does. Times are RFC 3339 in UTC.
type (
	jsonMessage struct {
		Topic      string    `json:"topic"`
		Payload    []byte    `json:"payload"`
		QoS        byte      `json:"qos"`
		Retain     bool      `json:"retain,omitempty"`
		Properties []byte    `json:"properties"`
		Expiry     time.Time `json:"expiry,omitzero"`
		Publisher  string    `json:"publisher,omitempty"`
	}
	jsonSubscription struct {
		Filter            string `json:"filter"`
		QoS               byte   `json:"qos"`
		NoLocal           bool   `json:"no_local,omitempty"`
		RetainAsPublished bool   `json:"retain_as_published,omitempty"`
		RetainHandling    byte   `json:"retain_handling,omitempty"`
		ID                uint32 `json:"id,omitempty"`
	}
	jsonSession struct {
		Kind           string             `json:"kind"`
		ClientID       string             `json:"client_id"`
		Version        byte               `json:"version"`
		Expiry         uint32             `json:"expiry"`
		DisconnectedAt time.Time          `json:"disconnected_at,omitzero"`
		Subscriptions  []jsonSubscription `json:"subscriptions"`
		Will           *jsonMessage       `json:"will,omitempty"`
		WillDelay      uint32             `json:"will_delay,omitempty"`
	}
	jsonOutbound struct {
		Kind     string      `json:"kind"`
		ClientID string      `json:"client_id"`
		Seq      uint64      `json:"seq"`
		PacketID uint16      `json:"packet_id,omitempty"`
		QoS      byte        `json:"qos"`
		Retain   bool        `json:"retain,omitempty"`
		SubIDs   []uint32    `json:"sub_ids"`
		Shared   string      `json:"shared,omitempty"`
		PubRel   bool        `json:"pubrel,omitempty"`
		Message  jsonMessage `json:"message"`
	}
	jsonInbound struct {
		Kind     string `json:"kind"`
		ClientID string `json:"client_id"`
		PacketID uint16 `json:"packet_id"`
	}
	jsonRetained struct {
		Kind string `json:"kind"`
		jsonMessage
	}
)

func messageJSON(m *store.Message) jsonMessage {
	j := jsonMessage{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain,
		Properties: m.Properties, Publisher: m.Publisher}
	if !m.Expiry.IsZero() {
		j.Expiry = m.Expiry.UTC()
	}
	return j
}

func (j *jsonMessage) message() store.Message {
	return store.Message{Topic: j.Topic, Payload: j.Payload, QoS: j.QoS, Retain: j.Retain,
		Properties: j.Properties, Expiry: j.Expiry, Publisher: j.Publisher}
}

func sessionJSON(s *store.Session) jsonSession {
	j := jsonSession{Kind: store.KindSession, ClientID: s.ClientID, Version: s.Version, Expiry: s.Expiry, WillDelay: s.WillDelay}
	if !s.DisconnectedAt.IsZero() {
		j.DisconnectedAt = s.DisconnectedAt.UTC()
	}
	if s.Subscriptions != nil {
		j.Subscriptions = make([]jsonSubscription, len(s.Subscriptions))
		for i, sub := range s.Subscriptions {
			j.Subscriptions[i] = jsonSubscription(sub)
		}
	}
	if s.Will != nil {
		w := messageJSON(s.Will)
		j.Will = &w
	}
	return j
}

func (j *jsonSession) session() *store.Session {
	s := &store.Session{ClientID: j.ClientID, Version: j.Version, Expiry: j.Expiry,
		DisconnectedAt: j.DisconnectedAt, WillDelay: j.WillDelay}
	if j.Subscriptions != nil {
		s.Subscriptions = make([]store.Subscription, len(j.Subscriptions))
		for i, sub := range j.Subscriptions {
			s.Subscriptions[i] = store.Subscription(sub)
		}
	}
	if j.Will != nil {
		w := j.Will.message()
		s.Will = &w
	}
	return s
}

func outboundJSON(o *store.Outbound) jsonOutbound {
	return jsonOutbound{Kind: store.KindOutbound, ClientID: o.ClientID, Seq: o.Seq, PacketID: o.PacketID, QoS: o.QoS,
		Retain: o.Retain, SubIDs: o.SubIDs, Shared: o.Shared, PubRel: o.PubRel, Message: messageJSON(&o.Msg)}
}

func (j *jsonOutbound) outbound() *store.Outbound {
	return &store.Outbound{ClientID: j.ClientID, Seq: j.Seq, PacketID: j.PacketID, QoS: j.QoS, Retain: j.Retain,
		SubIDs: j.SubIDs, Shared: j.Shared, PubRel: j.PubRel, Msg: j.Message.message()}
}

// dirSize adds up the sizes of the files in dir.
func dirSize(dir string) (size int64, files int, err error) {
	err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		size += fi.Size()
		files++
		return nil
	})
	return size, files, err
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
