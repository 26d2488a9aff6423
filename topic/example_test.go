package topic_test

import (
	"fmt"
	"slices"

	"github.com/mastmq/mast/topic"
)

func ExampleValidateFilter() {
	for _, f := range []string{"house/+/temp", "house/#", "house/#/temp", "$share/workers/jobs/+", "$share//jobs"} {
		fmt.Println(f, topic.ValidateFilter(f))
	}
	// Output:
	// house/+/temp <nil>
	// house/# <nil>
	// house/#/temp invalid topic: '#' not alone as the last level [MQTT-4.7.1-2]
	// $share/workers/jobs/+ <nil>
	// $share//jobs invalid topic: empty share name [MQTT-4.8.2-1]
}

func ExampleMatch() {
	fmt.Println(topic.Match("house/+/temp", "house/kitchen/temp"))
	fmt.Println(topic.Match("house/#", "house"))
	fmt.Println(topic.Match("#", "$SYS/broker/uptime"))
	// Output:
	// true
	// true
	// false
}

func ExampleTrie() {
	type sub struct{ qos byte }
	tr := topic.NewTrie[sub]()
	tr.Subscribe("lamp", "house/+/light", sub{qos: 1})
	tr.Subscribe("logger", "house/#", sub{qos: 0})
	tr.Subscribe("worker-1", "$share/workers/house/#", sub{qos: 1})
	tr.Subscribe("worker-2", "$share/workers/house/#", sub{qos: 1})

	var r topic.Result[sub] // reuse it: Match resets it and does not allocate
	tr.Match("house/hall/light", &r)
	var owners []string
	for _, e := range r.Subs {
		owners = append(owners, e.Owner+" "+e.Filter)
	}
	slices.Sort(owners)
	fmt.Println(owners)
	for _, s := range r.Shared {
		// Round-robin over the group's members.
		m := s.Members[(s.Cursor.Add(1)-1)%uint32(len(s.Members))]
		fmt.Println(s.Group, s.Filter, len(s.Members), "members, next:", m.Owner)
	}
	// Output:
	// [lamp house/+/light logger house/#]
	// workers house/# 2 members, next: worker-1
}

func ExampleRetained() {
	rt := topic.NewRetained[string]()
	rt.Set("house/hall/temp", "21.5")
	rt.Set("house/kitchen/temp", "23.0")
	rt.Set("$SYS/broker/version", "mast")

	var got []string
	rt.Match("+/+/temp", func(name, m string) bool {
		got = append(got, name+"="+m)
		return true
	})
	slices.Sort(got)
	fmt.Println(got)
	// Output:
	// [house/hall/temp=21.5 house/kitchen/temp=23.0]
}
