// Package window parses maintenance windows and answers when they are open.
//
// The package is pure: it does no I/O beyond loading time zones, never reads
// the clock, and every question takes the instant it is about. It embeds the
// IANA time zone database (time/tzdata), so zones resolve on hosts that have
// none installed.
//
// # Syntax
//
// A window is one or more weekly ranges and, optionally, one IANA time zone:
//
//	ddd:hh:mm-ddd:hh:mm[,ddd:hh:mm-ddd:hh:mm...] [Zone]
//
// for example
//
//	sun:02:00-sun:05:00
//	sun:02:00-sun:05:00 Europe/Berlin
//	sat:22:00-sun:01:00,wed:22:00-wed:23:30 America/New_York
//
// ddd is mon, tue, wed, thu, fri, sat or sun in any case; hh is 00 to 23 and
// mm 00 to 59. This is the form AWS uses for maintenance windows. Without a
// zone the window is in UTC; "Local" is refused because it would make the
// window depend on the host. A range runs from its start until its end next
// comes round, so it may wrap across midnight and across the end of the week
// ("sat:22:00-sun:01:00", "sun:23:00-mon:01:00"); it lasts at least a minute
// and less than a week, and one whose start equals its end is an error.
// Ranges must neither overlap nor touch (merge touching ranges into one).
// Leading and trailing space is ignored, and so is space around the commas.
// [Window.String] gives the canonical form: lower case, no spaces around
// commas, ranges in order of their start from Monday 00:00, zone omitted when
// it is UTC.
//
// # Openings
//
// Each weekly occurrence of a range is an opening: the half-open interval of
// instants [start, end). The start is inside the window; the end is not.
// Ranges never overlap, so neither do openings, and every instant is in at
// most one opening. [Window.OpenAt] reports the opening around an instant,
// [Window.Next] the first opening that starts at or after an instant, and
// [Window.Schedule] when a rollout requested at an instant should start.
//
// # Daylight-saving time
//
// Times in a window are wall-clock times in the window's zone, and each
// opening is computed on the calendar dates of that zone: "sun:02:00-sun:05:00
// Europe/Berlin" opens at 02:00 Berlin time all year, which is 01:00 UTC in
// winter and 00:00 UTC in summer. On the days the clocks change, one rule
// settles every case:
//
//	A start or an end means the first instant at which the zone's clock
//	reads that time or later.
//
// Spring forward. A wall time that does not exist that day, such as 02:30 in
// Europe/Berlin on the last Sunday of March (the clocks jump from 02:00 to
// 03:00), moves forward to the end of the gap: the instant of the change,
// 03:00 local time. An opening that starts or ends in the gap is shorter that
// day but still happens: "sun:02:30-sun:05:00" is open from 03:00 to 05:00,
// two hours, and "sun:01:00-sun:02:30" from 01:00 to 03:00, one hour. An
// opening that lies wholly inside the gap, such as "sun:02:10-sun:02:50",
// would last no time at all, so that week it has no opening; the range opens
// again the following week.
//
// Fall back. A wall time that occurs twice that day, such as 02:30 in
// Europe/Berlin on the last Sunday of October (the clocks go back from 03:00
// to 02:00), means its first occurrence, the one still in summer time, both
// for a start and for an end. So every opening is a single interval: the
// window does not open again when the clock shows its start a second time an
// hour later. An opening that starts and ends before or within the repeated
// hour lasts exactly its wall-clock length ("sun:02:10-sun:02:50" is 40
// minutes, "sun:01:00-sun:02:30" 90 minutes); taking the second occurrence for
// an end would make both an hour longer than written. An opening that spans
// the change lasts its wall-clock length plus the hour the clocks repeat,
// because that hour really passes: "sun:01:00-sun:05:00" is open for five
// hours that day, and "sun:02:30-sun:03:30" for two.
//
// The same rule applies to every zone and every size of change, such as the
// 30-minute change of Australia/Lord_Howe or a day skipped entirely. Gaps and
// repeats are found by comparing the offsets of the zone periods around a
// wall time (see [time.Time.ZoneBounds]), not left to [time.Date], whose
// choice in those cases is unspecified.
package window
