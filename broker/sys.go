package broker

import (
	"math"
	"strconv"
	"time"
)

// sysPublisher publishes broker statistics under $SYS, retained, the way
// Mosquitto does, so existing dashboards keep working.
type sysPublisher struct {
	s     *Server
	next  time.Time
	last  time.Time
	prev  map[string]uint64
	loads map[string]*[3]float64 // per-minute rates over 1, 5 and 15 minutes
}

func newSysPublisher(s *Server) *sysPublisher {
	return &sysPublisher{s: s, prev: map[string]uint64{}, loads: map[string]*[3]float64{}}
}

func (p *sysPublisher) maybePublish(now time.Time) {
	if p.s.lim().SysInterval < 0 || now.Before(p.next) {
		return
	}
	p.next = now.Add(p.s.lim().SysInterval)
	p.publishAll(now)
}

func (p *sysPublisher) publishAll(now time.Time) {
	s := p.s
	st := s.Stats()
	put := func(name, value string) {
		m := &message{topic: "$SYS/broker/" + name, payload: []byte(value), retain: true}
		m.size = messageSize(m)
		s.publish(m, nil, nil)
	}
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	i := func(n int) string { return strconv.Itoa(n) }
	put("version", s.opts.Version)
	put("uptime", strconv.FormatInt(st.UptimeSeconds, 10)+" seconds")
	put("clients/connected", i(st.ClientsConnected))
	put("clients/active", i(st.ClientsConnected))
	put("clients/disconnected", i(st.Sessions-st.ClientsConnected))
	put("clients/inactive", i(st.Sessions-st.ClientsConnected))
	put("clients/total", i(st.Sessions))
	put("messages/received", u(st.MessagesReceived))
	put("messages/sent", u(st.MessagesSent))
	put("messages/dropped", u(st.MessagesDropped))
	put("publish/messages/received", u(st.MessagesReceived))
	put("publish/messages/sent", u(st.MessagesSent))
	put("publish/messages/dropped", u(st.MessagesDropped))
	put("subscriptions/count", i(st.Subscriptions))
	put("retained messages/count", i(st.Retained))
	put("bytes/received", u(st.BytesReceived))
	put("bytes/sent", u(st.BytesSent))

	counters := map[string]uint64{
		"messages/received": st.MessagesReceived,
		"messages/sent":     st.MessagesSent,
		"bytes/received":    st.BytesReceived,
		"bytes/sent":        st.BytesSent,
		"connections":       st.ConnectionsTotal,
		"publish/dropped":   st.MessagesDropped,
		"publish/received":  st.MessagesReceived,
		"publish/sent":      st.MessagesSent,
		"sockets":           st.ConnectionsTotal,
	}
	if !p.last.IsZero() {
		dt := now.Sub(p.last).Seconds()
		for name, v := range counters {
			perMin := float64(v-p.prev[name]) / dt * 60
			l := p.loads[name]
			if l == nil {
				l = &[3]float64{perMin, perMin, perMin}
				p.loads[name] = l
			}
			for k, window := range []float64{60, 300, 900} {
				// Exponentially weighted moving averages, as uptime(1)
				// load averages.
				a := math.Exp(-dt / window)
				l[k] = l[k]*a + perMin*(1-a)
			}
			put("load/"+name+"/1min", fmtLoad(l[0]))
			put("load/"+name+"/5min", fmtLoad(l[1]))
			put("load/"+name+"/15min", fmtLoad(l[2]))
		}
	}
	p.prev = counters
	p.last = now
}

func fmtLoad(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
