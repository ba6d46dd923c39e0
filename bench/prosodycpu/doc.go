// Package prosodycpu measures, through a real Prosody, how much CPU time an
// xmppkit external component (XEP-0114) uses compared with the server that
// feeds it (issue 9: the component must never be the bottleneck).
//
// A client logged in over c2s (RFC 6120) sends chat messages to the
// component's domain with a window of messages in flight; Prosody routes
// each to the component, whose echo handler answers with the same id and
// body, from and to swapped; Prosody routes the answer back to the client,
// which checks every echo. The component runs in a child process (the test
// binary re-executed, see RunChild), so its CPU time is its own. The CPU
// time of Prosody and of the component is read from /proc/<pid>/stat
// (utime+stime, proc(5)) before and after the measured messages.
//
// The measurement is TestProsodyCPU (100,000 messages, enabled with
// XMPPKIT_PROSODY_CPU=1) and its quick form TestProsodyCPUQuick (2,000
// messages, always run); see bench/README.md.
package prosodycpu
