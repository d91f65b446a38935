package registryv1

import (
	"fmt"
	"strings"
)

// Digests lists every module the route can send a request to: its
// module, its split's versions and its rules' modules, with repeats.
func (r *Route) Digests() []string {
	ds := []string{r.GetModuleDigest()}
	for _, v := range r.GetVersions() {
		ds = append(ds, v.ModuleDigest)
	}
	for _, rl := range r.GetRules() {
		ds = append(ds, rl.ModuleDigest)
	}
	return ds
}

// Match says in words which requests the rule takes: "header X-Beta ~
// ^on$", "flag beta on".
func (rl *RouteRule) Match() string {
	switch rl.GetKind() {
	case MatchKind_MATCH_KIND_FLAG:
		return "flag " + rl.GetName() + " on"
	case MatchKind_MATCH_KIND_USER_AGENT:
		return "user agent ~ " + rl.GetPattern()
	case MatchKind_MATCH_KIND_HEADER:
		return "header " + rl.GetName() + " ~ " + rl.GetPattern()
	case MatchKind_MATCH_KIND_COOKIE:
		return "cookie " + rl.GetName() + " ~ " + rl.GetPattern()
	case MatchKind_MATCH_KIND_QUERY:
		return "query " + rl.GetName() + " ~ " + rl.GetPattern()
	}
	return rl.GetKind().String()
}

// Describe says a route's options in words, one phrase each: "timeout
// 2000 ms", "strict isolation", "CORS from https://a.example".
func (o *RouteOptions) Describe() []string {
	var out []string
	if o.GetTimeoutMs() > 0 {
		out = append(out, fmt.Sprintf("timeout %d ms", o.GetTimeoutMs()))
	}
	if o.GetMaxRequestBody() > 0 {
		out = append(out, fmt.Sprintf("body ≤ %d bytes", o.GetMaxRequestBody()))
	}
	if o.GetStrictIsolation() {
		out = append(out, "strict isolation")
	}
	if c := o.GetCors(); c != nil {
		out = append(out, "CORS from "+strings.Join(c.GetAllowOrigins(), " "))
	}
	if o.GetAccessLog() {
		out = append(out, "access log")
	}
	if o.GetTrace() {
		out = append(out, "traced")
	}
	if o.GetBrowser() {
		out = append(out, "browser")
	}
	if ob := o.GetOutbound(); ob != nil {
		phrase := "outbound " + strings.Join(ob.GetAllow(), " ")
		if len(ob.GetAllow()) == 0 {
			phrase = "outbound to nothing"
		}
		if ob.GetMaxCalls() > 0 {
			phrase += fmt.Sprintf(", ≤ %d calls", ob.GetMaxCalls())
		}
		if ob.GetMaxResponseBytes() > 0 {
			phrase += fmt.Sprintf(", ≤ %d bytes", ob.GetMaxResponseBytes())
		}
		out = append(out, phrase)
	}
	return out
}
