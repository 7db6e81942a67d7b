// Command record-histories runs each workflow through its paths on a real
// Temporal dev server and writes their event histories to
// workflows/testdata/histories, where the replay test checks that the
// workflow code still replays them: a change that would break running
// workflows fails the tests. Run it only when adding a path, or after a
// change made safe with workflow.GetVersion, and commit the files:
//
//	go run ./cmd/record-histories
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stripe/stripe-go/v76/webhook"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"

	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/stripeapi"
	"github.com/agentlinks/agentlinks/internal/testenv"
	agwebhook "github.com/agentlinks/agentlinks/internal/webhook"
	"github.com/agentlinks/agentlinks/service"
	"github.com/agentlinks/agentlinks/worker/workertest"
	"github.com/agentlinks/agentlinks/workflows"
)

var only = flag.String("only", "", "write only these histories (comma-separated names, e.g. conversion-eager-release); empty writes all")

func main() {
	flag.Parse()
	if err := record(context.Background(), "workflows/testdata/histories"); err != nil {
		fmt.Fprintln(os.Stderr, "record-histories:", err)
		os.Exit(1)
	}
}

func record(ctx context.Context, dir string) error {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	stack, err := workertest.NewStackWithoutWorker(ctx)
	if err != nil {
		return err
	}
	defer stack.Close()
	mock, err := testenv.StartStripeMock(ctx)
	if err != nil {
		return err
	}
	defer mock.Stop()
	// Answered by the record update: the worker tells no one (histories
	// with the update in them); eager below is answered from the worker.
	byUpdate := stack.Workflows()
	byUpdate.Recorded = nil
	const secret = "whsec_record"
	// The bank double answers the charges and transfers of payouts.
	mockURL, err := url.Parse(mock.URL)
	if err != nil {
		return err
	}
	bank := testenv.NewStripeBank(httputil.NewSingleHostReverseProxy(mockURL))
	bankSrv := httptest.NewServer(bank)
	defer bankSrv.Close()
	stripeCfg := config.Stripe{SecretKey: "sk_test_record", WebhookSecret: secret, APIBase: bankSrv.URL, ParkAfter: 2 * time.Second}
	svc := service.New(stack.DB.Pool, byUpdate, time.Hour).WithStripe(stripeCfg, "")
	defer svc.Close()
	acts := stack.Activities()
	acts.Stripe, acts.Payments = stripeapi.New(stripeCfg), svc
	acts.BalanceRetry = 200 * time.Millisecond
	// Webhook receivers run on loopback; a delivery gives up after 3s.
	svc.Webhooks = service.WebhookSettings{AllowPrivate: true, Retry: agwebhook.Retry{Initial: 100 * time.Millisecond, Max: 500 * time.Millisecond, For: 3 * time.Second}}
	acts.Webhooks = agwebhook.Client(5*time.Second, true)
	if err := stack.StartWorker(acts); err != nil {
		return err
	}
	dispatchCtx, stopDispatch := context.WithCancel(ctx)
	defer stopDispatch()
	go svc.DispatchWebhooks(dispatchCtx, 50*time.Millisecond, slog.Default())
	app, err := programs.CreateApp(ctx, stack.DB.Pool, programs.NewApp{Name: "Record", CommissionBPS: 3000, Hold: 2 * time.Second})
	if err != nil {
		return err
	}
	en, err := programs.Enroll(ctx, stack.DB.Pool, app.App.ID, "creator@example.com")
	if err != nil {
		return err
	}
	key := service.Sender{KeyApp: app.App.ID}
	convert := func(txn string, amount int64) (service.Conversion, error) {
		c, _, err := svc.Conversion(ctx, service.ConversionInput{Ref: en.RefCode, UserID: "usr_1", AmountCents: amount, TransactionID: txn, Sender: key})
		return c, err
	}
	refund := func(txn string, amount int64) error {
		_, err := svc.Refund(ctx, service.RefundInput{Ref: en.RefCode, AmountCents: amount, TransactionID: txn, Sender: key})
		return err
	}
	wait := func(wid string) error {
		return stack.Temporal.GetWorkflow(ctx, wid, "").Get(ctx, nil)
	}
	histories := map[string]string{} // file name -> workflow id (latest run)

	// Started eagerly and answered from the worker (an API beside a
	// worker): no record update in the history; hold then release.
	eager := service.New(stack.DB.Pool, stack.Workflows(), time.Hour)
	defer eager.Close()
	ec, _, err := eager.Conversion(ctx, service.ConversionInput{Ref: en.RefCode, UserID: "usr_2", AmountCents: 10000, TransactionID: "eager", Sender: key})
	if err != nil {
		return err
	}
	histories["conversion-eager-release"] = ec.WorkflowID

	// Hold then release; a duplicate record on the way.
	c, err := convert("release", 10000)
	if err != nil {
		return err
	}
	if _, err := convert("release", 10000); err != nil {
		return err
	}
	histories["conversion-release"] = c.WorkflowID
	// Partial refund mid-hold, an over-refund refused, then release.
	if c, err = convert("partial", 10000); err != nil {
		return err
	}
	if err := refund("partial", 2500); err != nil {
		return err
	}
	if err := refund("partial", 99999); err == nil {
		return fmt.Errorf("over-refund accepted")
	}
	histories["conversion-partial-refund"] = c.WorkflowID
	// Full refund ends the hold early.
	if c, err = convert("full", 999); err != nil {
		return err
	}
	if err := refund("full", 999); err != nil {
		return err
	}
	histories["conversion-full-refund"] = c.WorkflowID
	for _, wid := range histories {
		if err := wait(wid); err != nil {
			return err
		}
	}
	// A refund after release: a second run that claws back.
	if err := refund("release", 4000); err != nil {
		return err
	}
	histories["conversion-clawback"] = histories["conversion-release"]
	if err := wait(histories["conversion-clawback"]); err != nil {
		return err
	}
	if err := writeHistory(ctx, stack.Temporal, dir, "conversion-release", histories["conversion-release"], true); err != nil {
		return err
	}
	delete(histories, "conversion-release")

	// Stripe events: one processed, one parked (a refund whose payment never came).
	if err := programs.ConnectStripe(ctx, stack.DB.Pool, app.App.ID, "acct_record"); err != nil {
		return err
	}
	for name, evt := range map[string]map[string]any{
		"stripe-invoice-paid": {"id": "evt_record_paid", "type": "invoice.paid", "object": map[string]any{
			"id": "in_record", "object": "invoice", "amount_paid": 5000, "tax": 0,
			"customer": map[string]any{"id": "cus_record", "object": "customer", "metadata": map[string]string{"agentlinks_ref": en.RefCode}}}},
		"stripe-refund-parked": {"id": "evt_record_orphan", "type": "charge.refunded", "object": map[string]any{
			"id": "ch_orphan", "object": "charge", "amount": 5000, "amount_refunded": 5000, "invoice": "in_never", "customer": "cus_record"}},
	} {
		payload, _ := json.Marshal(map[string]any{"id": evt["id"], "object": "event", "type": evt["type"], "account": "acct_record",
			"created": time.Now().Unix(), "data": map[string]any{"object": evt["object"]}})
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret})
		if _, err := svc.ReceiveStripeEvent(ctx, payload, signed.Header); err != nil {
			return err
		}
		wid := workflows.StripeEventWorkflowID(evt["id"].(string))
		if err := wait(wid); err != nil {
			return err
		}
		histories[name] = wid
	}
	payouts, err := recordPayouts(ctx, svc, bank, stack.DB.Pool, wait)
	if err != nil {
		return err
	}
	maps.Copy(histories, payouts)
	hooks, err := recordWebhooks(ctx, svc, stack.DB.Pool, wait)
	if err != nil {
		return err
	}
	maps.Copy(histories, hooks)
	for name, wid := range histories {
		if err := writeHistory(ctx, stack.Temporal, dir, name, wid, false); err != nil {
			return err
		}
	}
	return nil
}

// recordWebhooks delivers a conversion's event to an endpoint that answers
// 500 twice then 200, and to one that always answers 500 until the
// delivery gives up.
func recordWebhooks(ctx context.Context, svc *service.Service, pool *pgxpool.Pool, wait func(string) error) (map[string]string, error) {
	tries := map[string]int{}
	var mu sync.Mutex
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		tries[r.Header.Get("webhook-id")]++
		if tries[r.Header.Get("webhook-id")] <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer flaky.Close()
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer dead.Close()
	app, err := programs.CreateApp(ctx, pool, programs.NewApp{Name: "Hooks", CommissionBPS: 3000, Hold: time.Hour})
	if err != nil {
		return nil, err
	}
	en, err := programs.Enroll(ctx, pool, app.App.ID, "hooks@example.com")
	if err != nil {
		return nil, err
	}
	byURL := map[string]string{}
	for name, u := range map[string]string{"webhook-delivered": flaky.URL, "webhook-failed": dead.URL} {
		ep, err := svc.RegisterWebhook(ctx, app.App.ID, u, []string{agwebhook.ConversionCreated})
		if err != nil {
			return nil, err
		}
		byURL[ep.URL] = name
	}
	if _, _, err := svc.Conversion(ctx, service.ConversionInput{Ref: en.RefCode, UserID: "u", AmountCents: 1000, TransactionID: "hook",
		Sender: service.Sender{KeyApp: app.App.ID}}); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for range 200 {
		ds, err := svc.WebhookDeliveries(ctx, app.App.ID, 10)
		if err != nil {
			return nil, err
		}
		if len(ds) == 2 {
			for _, d := range ds {
				out[byURL[d.Url]] = agwebhook.WorkflowID(d.ID)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(out) != 2 {
		return nil, fmt.Errorf("webhook deliveries: %v", out)
	}
	for _, wid := range out {
		for range 100 { // the dispatcher starts it within moments
			if err := wait(wid); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return out, nil
}

// recordPayouts runs payout runs through their paths: paid (with a
// transfer that waits out balance_insufficient), a transfer refused, a
// declined charge, a cancel, a manual run and an empty one.
func recordPayouts(ctx context.Context, svc *service.Service, bank *testenv.StripeBank, pool *pgxpool.Pool, wait func(string) error) (map[string]string, error) {
	out := map[string]string{}
	program := func(name, mode string, n int) (string, []string, error) {
		app, err := programs.CreateApp(ctx, pool, programs.NewApp{Name: name, CommissionBPS: 3000, Hold: 0})
		if err != nil {
			return "", nil, err
		}
		if _, err := svc.SetPayoutSettings(ctx, app.App.ID, service.PayoutSettings{Mode: mode, MinPayoutCents: 100}); err != nil {
			return "", nil, err
		}
		if _, err := svc.SetPaymentMethod(ctx, app.App.ID, "cus_"+app.App.ID, "pm_card_visa", "visa"); err != nil {
			return "", nil, err
		}
		var accts []string
		for i := range n {
			en, err := programs.Enroll(ctx, pool, app.App.ID, fmt.Sprintf("%s-%d@example.com", strings.ToLower(name), i))
			if err != nil {
				return "", nil, err
			}
			acct := fmt.Sprintf("acct_%s%d", strings.ToLower(name), i)
			bank.Account(acct, true, true)
			if err := svc.SetCreatorPayoutAccount(ctx, en.CreatorID, acct); err != nil {
				return "", nil, err
			}
			accts = append(accts, acct)
			c, _, err := svc.Conversion(ctx, service.ConversionInput{Ref: en.RefCode, UserID: "u", AmountCents: 10000,
				TransactionID: fmt.Sprintf("t%d", i), Sender: service.Sender{KeyApp: app.App.ID}})
			if err != nil {
				return "", nil, err
			}
			if err := wait(c.WorkflowID); err != nil {
				return "", nil, err
			}
		}
		return app.App.ID, accts, nil
	}
	// start runs one and waits for its reservation.
	start := func(appID string) (service.Run, error) {
		id, err := svc.StartPayoutRun(ctx, appID, payout.TriggerOwner)
		if err != nil {
			return service.Run{}, err
		}
		for range 200 {
			if r, err := svc.PayoutRun(ctx, appID, id); err == nil {
				return r, nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		return service.Run{}, fmt.Errorf("run %s did not reserve", id)
	}
	decide := func(appID string, confirm bool) (service.Run, error) {
		r, err := start(appID)
		if err != nil {
			return r, err
		}
		if err := svc.DecidePayoutRun(ctx, appID, r.ID, confirm, payout.Decision{By: "owner@example.com", Reason: "recorded"}); err != nil {
			return r, err
		}
		if err := wait(r.ID); err != nil {
			return r, err
		}
		return svc.PayoutRun(ctx, appID, r.ID)
	}

	appID, accts, err := program("Paid", payout.ModeStripe, 2)
	if err != nil {
		return nil, err
	}
	bank.Short(accts[0], 1)
	bank.Refuse(accts[1], "Cannot send funds to this account")
	r, err := decide(appID, true)
	if err != nil {
		return nil, err
	}
	out["payout-run-paid"] = r.ID
	for _, p := range r.Payouts {
		name := "payout-paid"
		if p.Status == payout.StatusFailed {
			name = "payout-transfer-refused"
		}
		out[name] = payout.WorkflowID(p.ID)
	}
	if appID, _, err = program("Declined", payout.ModeStripe, 1); err != nil {
		return nil, err
	}
	bank.Decline("cus_"+appID, "insufficient_funds")
	if r, err = decide(appID, true); err != nil {
		return nil, err
	}
	out["payout-run-declined"] = r.ID
	if appID, _, err = program("Canceled", payout.ModeStripe, 1); err != nil {
		return nil, err
	}
	if r, err = decide(appID, false); err != nil {
		return nil, err
	}
	out["payout-run-canceled"] = r.ID
	if appID, _, err = program("Manual", payout.ModeManual, 1); err != nil {
		return nil, err
	}
	if r, err = decide(appID, true); err != nil {
		return nil, err
	}
	out["payout-run-manual"] = r.ID
	if r, err = start(appID); err != nil { // nothing left: empty
		return nil, err
	}
	if err := wait(r.ID); err != nil {
		return nil, err
	}
	out["payout-run-empty"] = r.ID
	return out, nil
}

// writeHistory saves a run's history; first picks the workflow's first run
// instead of its latest.
func writeHistory(ctx context.Context, c client.Client, dir, name, wid string, first bool) error {
	if *only != "" && !slices.Contains(strings.Split(*only, ","), name) {
		return nil
	}
	runID := ""
	if first {
		desc, err := c.DescribeWorkflowExecution(ctx, wid, "")
		if err != nil {
			return err
		}
		runID = desc.GetWorkflowExecutionInfo().GetFirstRunId()
	}
	it := c.GetWorkflowHistory(ctx, wid, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	hist := &historypb.History{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return err
		}
		hist.Events = append(hist.Events, e)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, name+".json")
	fmt.Println("wrote", path, len(hist.Events), "events")
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
