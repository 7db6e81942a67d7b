package db

// QueryText is the SQL of the queries whose plans the benchmarks print
// (bench reads), exactly as the generated code sends it.
var QueryText = map[string]string{
	"GetCreatorBalance": getCreatorBalance,
	"ProgramDays":       programDays,
	"CreatorBalances":   creatorBalances,
	"ProgramCreators":   programCreators,
	"RecentConversions": recentConversions,
}

// OptionalText is s as a nullable text column: NULL for "".
func OptionalText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
