// Package expr parses and evaluates AWS schedule expressions: the
// rate(...) and cron(...) expressions of EventBridge scheduled rules and
// Lambda "schedule" events, and the at(...) one-time expressions of
// EventBridge Scheduler.
//
// # Syntax
//
// The accepted syntax is AWS's, as documented in "Schedule expressions for
// rules" (EventBridge) and "Schedule types on EventBridge Scheduler":
//
//	rate(1 minute)   rate(N minutes)   (N > 1)
//	rate(1 hour)     rate(N hours)
//	rate(1 day)      rate(N days)
//	at(yyyy-mm-ddThh:mm:ss)
//	cron(minutes hours day-of-month month day-of-week year)
//
// A rate value is a positive integer; the unit is singular exactly when
// the value is 1 (AWS rejects "rate(1 minutes)" and "rate(5 minute)").
//
// The six cron fields take these values and wildcards:
//
//	minutes       0-59                , - * /
//	hours         0-23                , - * /
//	day-of-month  1-31                , - * ? / L W
//	month         1-12 or JAN-DEC     , - * /
//	day-of-week   1-7 or SUN-SAT      , - * ? L #
//	year          1970-2199           , - * /
//
// Exactly one of day-of-month and day-of-week must be '?'. An increment
// "a/n" runs from a to the top of the field's range, "*/n" from its bottom,
// and "a-b/n" from a to b. Ranges must run forwards ("22-2" is rejected with
// a hint to write "22-23,0-2"). Names and the letters L and W are matched
// without regard to case.
//
// The special forms are the ones AWS documents, each as the whole field:
//
//	day-of-month  L     the last day of the month
//	day-of-month  nW    the weekday (MON-FRI) nearest day n of the month; it
//	                    never crosses into another month: 1W on a Saturday
//	                    is Monday the 3rd, and 31W on a Sunday is Friday the
//	                    29th. A month shorter than n days has no match.
//	day-of-week   L     the last day of the week, Saturday (same as 7)
//	day-of-week   nL    the last day n of the month (6L: last Friday)
//	day-of-week   n#k   the k-th day n of the month, k in 1-5 (3#2: second
//	                    Tuesday); a month without a k-th day n has no match
//
// Quartz extensions that AWS does not document (L-n, LW, lists that mix L,
// W or # with other values, '/' in day-of-week) are rejected with a reason.
// Day-of-week numbers are AWS's: 1 is SUN and 7 is SAT.
//
// A cron expression that can never fire (cron(0 0 30 2 ? *), a year list
// entirely in the past, February 29 in a year range without leap years) and
// an at(...) time that is not after the parse time are errors at parse time;
// they wrap ErrNeverFires. Every other error is an *Error whose Reason says
// what to change.
//
// # Time zones and daylight saving time
//
// Parse takes the time zone the expression is evaluated in: UTC for
// EventBridge rules (nil means UTC), or the IANA zone of EventBridge
// Scheduler's ScheduleExpressionTimezone. cron and at fields are local wall
// clock times in that zone. Following EventBridge Scheduler's documented
// behaviour for daylight saving time:
//
//   - a local time that does not exist because clocks move forward (the
//     spring-forward gap) is skipped, not moved: cron(30 2 * * ? *) in
//     America/New_York does not fire on the day clocks jump from 02:00 to
//     03:00;
//   - a local time that happens twice because clocks move back fires once,
//     at its first occurrence (the earlier instant, still on daylight time);
//   - rate expressions are fixed durations (a day is 24 hours) measured
//     from the previous fire, so they ignore the zone and, in local time,
//     move by an hour across a change.
//
// For at(...) a local time in a gap is an error (it would never fire) and a
// repeated local time means its first occurrence.
//
// # Rate anchors
//
// A rate schedule fires at anchor + k*period for k >= 0. EventBridge starts
// a rate rule when the rule is created, so ParseAt uses its now argument as
// the anchor (Parse uses time.Now()): the first fire is one period after
// creation. EventBridge Scheduler's StartDate is the first occurrence; use
// (*Rate).WithAnchor(startDate) for it.
//
// # Missed ticks
//
// Next is pure: Next(t) is the first fire strictly after t, whatever the
// current time. A scheduler that was down for a while and calls
// Next(lastFire) gets the ticks it missed, one by one. AWS does not
// replay missed invocations of a schedule, so callers should coalesce them
// (fire at most once, then continue from Next(now)) rather than catch up.
package expr
