// Package xtime implements the date and time profiles of XEP-0082 (XMPP Date
// and Time Profiles) and the entity time protocol of XEP-0202 (Entity Time).
//
// The XEP-0082 profiles are
//
//	Date      CCYY-MM-DD
//	DateTime  CCYY-MM-DDThh:mm:ss[.sss]TZD
//	Time      hh:mm:ss[.sss][TZD]
//
// where TZD is "Z" (UTC) or an offset "+hh:mm" / "-hh:mm". The Format
// functions write these profiles; the Parse functions read them strictly
// (exactly the lexical forms above, any number of fraction digits, calendar
// checked) and report a *ParseError for anything else.
//
// For XEP-0202, Handler answers <time xmlns='urn:xmpp:time'/> queries with
// the entity's offset (<tzo>) and the current time in UTC (<utc>), and Get
// asks a peer for its time.
package xtime
