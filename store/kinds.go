package store

// The kinds of record a store holds, as named by Stats and by the JSON
// lines of `mast store export`.
const (
	KindSession  = "session"
	KindOutbound = "outbound"
	KindInbound  = "inbound"
	KindRetained = "retained"
)

// Kinds lists the record kinds in the order Load visits them.
func Kinds() []string {
	return []string{KindSession, KindOutbound, KindInbound, KindRetained}
}
