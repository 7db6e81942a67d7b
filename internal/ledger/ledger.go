// Package ledger names the accounts of AgentLinks' append-only, double-entry
// ledger and the movements between them. Money moves only by appending a
// transfer; every balance is a sum of transfers.
//
//	credit    app → creator_pending (net), app → platform_pending (fee)
//	release   creator_pending → creator_available, platform_pending → platform_revenue
//	reversal  creator_pending → app, platform_pending → app (refund during the hold)
//	clawback  creator_available → app, platform_revenue → app (refund after release;
//	          the creator's available balance may go negative)
package ledger

// Accounts.
const (
	App              = "app" // the merchant's side: where commission comes from and reversals return
	CreatorPending   = "creator_pending"
	CreatorAvailable = "creator_available"
	CreatorPaid      = "creator_paid"
	PlatformPending  = "platform_pending"
	PlatformRevenue  = "platform_revenue"
)

// Kinds of transfer.
const (
	KindCredit   = "credit"
	KindRelease  = "release"
	KindReversal = "reversal"
	KindClawback = "clawback"
)
