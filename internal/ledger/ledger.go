// Package ledger names the accounts of AgentLinks' append-only, double-entry
// ledger and the movements between them. Money moves only by appending a
// transfer; every balance is a sum of transfers.
//
//	credit    app → creator_pending (net), app → platform_pending (fee)
//	release   creator_pending → creator_available, platform_pending → platform_revenue
//	reversal  creator_pending → app, platform_pending → app (refund during the hold)
//	clawback  creator_available → app, platform_revenue → app (refund after release;
//	          the creator's available balance may go negative)
//	payout_reserve   creator_available → creator_in_payout (a run reserves it)
//	payout           creator_in_payout → creator_paid (the creator was paid)
//	payout_return    creator_in_payout → creator_available (a failure returns it)
//	payout_reversal  creator_paid → creator_available (Stripe reversed the transfer)
//	collection       app_collected → app (the app paid a run: what it owes drops)
//
// Payout movements are split per conversion (payout_allocations), so the
// invariant credited = pending + available + in payout + paid + reversed
// holds per conversion as well as per creator.
package ledger

// Accounts.
const (
	App              = "app" // the merchant's side: where commission comes from and reversals return
	CreatorPending   = "creator_pending"
	CreatorAvailable = "creator_available"
	CreatorPaid      = "creator_paid"
	CreatorInPayout  = "creator_in_payout"
	// AppCollected is the other side of what apps paid for payout runs: its
	// balance is minus everything collected, and app's rises by as much.
	AppCollected    = "app_collected"
	PlatformPending = "platform_pending"
	PlatformRevenue = "platform_revenue"
)

// Kinds of transfer.
const (
	KindCredit   = "credit"
	KindRelease  = "release"
	KindReversal = "reversal"
	KindClawback = "clawback"

	KindPayout         = "payout"
	KindPayoutReserve  = "payout_reserve"
	KindPayoutReturn   = "payout_return"
	KindPayoutReversal = "payout_reversal"
	KindCollection     = "collection"
)
