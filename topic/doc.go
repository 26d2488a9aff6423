// Package topic holds the MQTT rules for topic names and topic filters and
// the two indexes the broker routes with.
//
//   - ValidateName and ValidateFilter check names and filters as they arrive
//     in PUBLISH, SUBSCRIBE and UNSUBSCRIBE (MQTT 3.1.1 and 5.0 §4.7, §4.8.2);
//     their errors wrap ErrInvalid. ParseShared splits a
//     "$share/{group}/{filter}" shared-subscription filter.
//   - Match is the reference matcher for one filter against one name: short,
//     obviously right, and used by the tests to check the indexes.
//   - Trie is the subscription index: topic filters (plain or shared) to the
//     broker's per-subscription values. Trie.Match answers "who gets a
//     message published on this name" without allocating.
//   - Retained is the retained-message index: topic names to the retained
//     message, answering wildcard filters for new subscriptions.
//
// # Matching rules
//
// Levels are separated by '/'; empty levels are levels ("a//b", "/a" and "a/"
// have three, two and two levels). '+' matches exactly one level, including
// an empty one. '#' matches the level before it and any number of levels
// after, so "a/#" matches "a" [MQTT-4.7.1-2]. A filter whose first character
// is a wildcard never matches a name starting with '$' [MQTT-4.7.2-1], so
// "#" and "+/x" do not see "$SYS/x", while "$SYS/#" does.
//
// # Locking
//
// Trie and Retained each have one sync.RWMutex over the whole tree, as the
// NATS server's sublist does: writers (Subscribe, Unsubscribe, Set, Delete)
// take it exclusively and matchers share it. Neither calls out to other
// locks while holding it, except Retained.Match, which calls its fn under the
// read lock: fn must not call back into the same Retained (a waiting writer
// would deadlock the recursive read lock). There is no lock order to keep
// between a Trie and a Retained because neither holds one while taking the
// other.
//
// # Memory
//
// Both indexes keep references to the strings they are given only where they
// have copied them first: node keys and filters are cloned from the caller's
// string, so a filter decoded out of a large packet buffer does not pin that
// buffer. Owner strings (client identifiers) are kept as given. Empty nodes
// are pruned on Unsubscribe and Delete so memory follows the live set, not
// the history of churn.
package topic
