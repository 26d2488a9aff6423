package hostile_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// deep is a topic of 65,535 empty levels: 65,534 '/', the most levels a
// topic can have (a string is at most 65,535 bytes).
var deep = strings.Repeat("/", 65534)

// TestDeepTopic: a PUBLISH to a 65,535-level topic and SUBSCRIBEs to
// 65,535-level filters neither crash nor stall the broker.
//
// Without a level limit (MaxTopicLevels -1; the default caps at 200) they work: "#",
// the exact filter, and filters with '+' first or last, or '#' last, all
// get the message once; the retained copy reaches late subscribers; it is
// cleared, and the exact filter unsubscribed. With MaxTopicLevels 128 they
// are refused and counted in TopicLimitHits: SUBSCRIBE with SUBACK 0x80
// (3.1.1) or 0x8F (v5), PUBLISH by closing the connection (v5: DISCONNECT
// 0x90 first), a will topic by refusing the CONNECT (v5: CONNACK 0x90);
// 128 levels are accepted and 129 refused.
//
// Bound asserted: each step answers within waitTimeout; memory (peak heap,
// retained, Sys) under +128 MiB with the deep subscriptions held, and under
// +8 MiB retained once their clients have gone. Measured (2 cores, -race):
// the unlimited part took 0.4 s; peak heap +66 MiB, retained +49 MiB, Sys
// +70 MiB while held (two 65,535-node chains in the subscription trie at
// about 24 MiB each: the "+"-first filter shares no node with the others;
// see TestDeepFilterAmplification), +0.1 MiB once the clients had gone.
func TestDeepTopic(t *testing.T) {
	t.Run("unlimited", func(t *testing.T) {
		b := startBroker(t, broker.Options{MaxTopicLevels: -1})
		mem := watchMemory()
		start := time.Now()
		filters := []struct {
			filter  string
			version byte
		}{
			{"#", v311},
			{deep, v5},            // exactly the topic
			{deep + "+", v311},    // '+' for the last level
			{"+" + deep, v311},    // '+' for the first level
			{deep + "#", v5},      // '#' after 65,534 levels
			{"+/+/+/+/+/#", v311}, // wildcards well short of it
		}
		subs := make([]*client, len(filters))
		for i, f := range filters {
			c := dial(t, b.addr, uniqueID("deepsub"))
			c.connect(f.version, 0)
			if codes := c.subscribe(1, 1, f.filter); codes[0] != 1 {
				t.Fatalf("filter %d (%d bytes): SUBACK 0x%02X, want 1", i, len(f.filter), codes[0])
			}
			subs[i] = c
		}
		p := dial(t, b.addr, uniqueID("deeppub"))
		p.connect(v5, 0)
		p.send(&packet.Publish{Topic: deep, Payload: []byte("deep"), QoS: 1, PacketID: 1, Retain: true})
		if ack, ok := p.read().(*packet.Ack); !ok || ack.Kind != packet.PUBACK || ack.ReasonCode != 0 {
			t.Fatalf("publisher: got %+v, want PUBACK 0", ack)
		}
		expect := func(c *client, payload string, retain bool) {
			t.Helper()
			pub, ok := c.read().(*packet.Publish)
			if !ok || pub.Topic != deep || string(pub.Payload) != payload || pub.Retain != retain {
				t.Fatalf("%s: got %+v, want the deep message %q (retain %v)", c.name, summary(pub), payload, retain)
			}
			if pub.QoS > 0 {
				c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: pub.PacketID})
			}
		}
		for _, c := range subs {
			expect(c, "deep", false)
		}
		late := []*client{dial(t, b.addr, uniqueID("late")), dial(t, b.addr, uniqueID("late"))}
		for i, f := range []string{"#", deep} {
			late[i].connect(v311, 0)
			if codes := late[i].subscribe(1, 1, f); codes[0] != 1 {
				t.Fatalf("late subscriber: SUBACK 0x%02X", codes[0])
			}
			expect(late[i], "deep", true)
		}
		if st := b.srv.Stats(); st.Retained != 1 {
			t.Errorf("Retained = %d, want 1", st.Retained)
		}
		// Clear the retained message: everyone subscribed gets the empty one.
		p.send(&packet.Publish{Topic: deep, QoS: 1, PacketID: 2, Retain: true})
		if ack, ok := p.read().(*packet.Ack); !ok || ack.Kind != packet.PUBACK {
			t.Fatalf("publisher: got %+v, want PUBACK", ack)
		}
		for _, c := range append(subs, late...) {
			expect(c, "", false)
		}
		if st := b.srv.Stats(); st.Retained != 0 {
			t.Errorf("Retained = %d after clearing, want 0", st.Retained)
		}
		subs[1].send(&packet.Unsubscribe{PacketID: 2, Filters: []string{deep}})
		if ack, ok := subs[1].read().(*packet.Unsuback); !ok || len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != 0 {
			t.Fatalf("UNSUBSCRIBE of the deep filter: got %+v, want UNSUBACK 0", ack)
		}
		if st := b.srv.Stats(); st.TopicLimitHits != 0 {
			t.Errorf("TopicLimitHits = %d without a limit, want 0", st.TopicLimitHits)
		}
		t.Logf("65,535-level topic published, delivered, retained, cleared and unsubscribed in %v", time.Since(start).Round(time.Millisecond))
		held := mem.finish()
		held.check(t, 128*mib)
		for _, c := range append(append(subs, late...), p) {
			c.send(&packet.Disconnect{})
			c.waitClosed(waitTimeout)
		}
		waitIdle(t, b)
		// The trie and index nodes go with the sessions.
		if left := mem.retainedNow(); left > 8*mib {
			t.Errorf("heap retained once every deep subscriber has gone: %+.1f MiB, want under 8 MiB", float64(left)/mib)
		} else {
			t.Logf("heap retained once every deep subscriber has gone: %+.1f MiB", float64(left)/mib)
		}
		probe(t, b)
	})

	t.Run("max levels 128", func(t *testing.T) {
		b := startBroker(t, broker.Options{MaxTopicLevels: 128})
		hits := func() uint64 { return b.srv.Stats().TopicLimitHits }
		want := uint64(0)

		levels128 := strings.Repeat("a/", 127) + "a"
		levels129 := levels128 + "/a"
		c := dial(t, b.addr, uniqueID("levels"))
		c.connect(v311, 0)
		if codes := c.subscribe(1, 0, levels128, levels129, deep); codes[0] != 0 || codes[1] != packet.SubackFailure || codes[2] != packet.SubackFailure {
			t.Errorf("3.1.1 SUBACK for 128, 129 and 65,535 levels: % X, want 00 80 80", codes)
		}
		want += 2
		if hits() != want {
			t.Errorf("TopicLimitHits = %d, want %d", hits(), want)
		}
		c5 := dial(t, b.addr, uniqueID("levels5"))
		c5.connect(v5, 0)
		if codes := c5.subscribe(1, 0, deep); codes[0] != packet.TopicFilterInvalid {
			t.Errorf("v5 SUBACK for 65,535 levels: 0x%02X, want 0x8F", codes[0])
		}
		want++
		if hits() != want {
			t.Errorf("TopicLimitHits = %d, want %d", hits(), want)
		}
		// 128 levels are published and delivered.
		c.publish(levels128, []byte("ok"), 0, 0)
		if pub, ok := c.read().(*packet.Publish); !ok || pub.Topic != levels128 {
			t.Fatalf("128-level topic: got %+v, want it delivered", summary(pub))
		}

		// PUBLISH to 65,535 levels: the connection is closed.
		c5.publish(deep, []byte("deep"), 0, 0)
		got := c5.waitClosed(waitTimeout)
		if len(got) != 1 {
			t.Fatalf("v5 publisher got %d packets before the close, want DISCONNECT", len(got))
		}
		if d, ok := got[0].(*packet.Disconnect); !ok || d.ReasonCode != packet.TopicNameInvalid {
			t.Errorf("v5 publisher got %+v, want DISCONNECT 0x90", got[0])
		}
		want++
		c.publish(deep, []byte("deep"), 1, 1)
		if got := c.waitClosed(waitTimeout); len(got) != 0 {
			t.Errorf("3.1.1 publisher got %d packets before the close, want none", len(got))
		}
		want++
		if hits() != want {
			t.Errorf("TopicLimitHits = %d, want %d", hits(), want)
		}

		// A will on 65,535 levels: the CONNECT is refused, as for a will
		// topic that is not valid.
		w := dial(t, b.addr, uniqueID("deepwill"))
		ack, err := w.tryConnect(&packet.Connect{Version: v5, CleanStart: true, ClientID: w.name, WillFlag: true, WillTopic: deep, WillPayload: []byte("bye")})
		if err == nil || ack == nil || ack.ReasonCode != packet.TopicNameInvalid {
			t.Errorf("CONNECT with a 65,535-level will topic: %v (CONNACK %+v), want CONNACK 0x90", err, ack)
		} else {
			want++
		}
		if hits() != want {
			t.Errorf("TopicLimitHits = %d, want %d", hits(), want)
		}
		probe(t, b)
	})
}

// TestDeepFilterAmplification: with the default options a client must not
// make the broker hold far more memory than it sends. Four distinct
// 65,535-level filters are one 256 KiB SUBSCRIBE (a 1 MiB packet, the
// default maximum, holds fifteen); each level is a node of the
// subscription trie.
//
// Bound asserted: heap retained after the SUBACK under +16 MiB (64 × the
// packet), whether the broker accepts the filters or refuses them.
// Measured (2 cores, -race): +97 MiB retained, 24 MiB a filter (about 385
// bytes a level), in 0.3 s: a handful of 1 MiB SUBSCRIBE packets take
// gigabytes without a cap: MaxTopicLevels defaults to 200, as Mosquitto
// caps topics and filters at 200 levels
// (TOPIC_HIERARCHY_LIMIT, added for CVE-2019-11779, "a SUBSCRIBE packet
// containing a topic that consists of approximately 65400 or more '/'
// characters").
func TestDeepFilterAmplification(t *testing.T) {
	b := startBroker(t, broker.Options{})
	c := dial(t, b.addr, uniqueID("amplifier"))
	c.connect(v311, 0)
	var filters []string
	for i := range 4 {
		prefix := fmt.Sprintf("amp%d", i)
		filters = append(filters, prefix+deep[:65535-len(prefix)])
	}
	mem := watchMemory()
	start := time.Now()
	codes := c.subscribe(1, 0, filters...)
	rep := mem.finish()
	t.Logf("SUBACK % X after %v; %v", codes, time.Since(start).Round(time.Millisecond), rep)
	if rep.retained > 16*mib {
		t.Errorf("a 256 KiB SUBSCRIBE of four 65,535-level filters made the broker hold %+.0f MiB (SUBACK % X), want under 16 MiB: "+
			"MaxTopicLevels needs a default (Mosquitto refuses more than 200 levels)", float64(rep.retained)/mib, codes)
	}
	probe(t, b)
}

// summary describes a PUBLISH without its (possibly 64 KiB) topic.
func summary(p *packet.Publish) string {
	if p == nil {
		return "not a PUBLISH"
	}
	return fmt.Sprintf("PUBLISH topic of %d bytes, payload %q, QoS %d, retain %v", len(p.Topic), p.Payload, p.QoS, p.Retain)
}
