using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AgentSessions.Functions.Tests.Infrastructure;
using AgentSessions.Functions.Webhooks;
using Microsoft.DurableTask.Client;

namespace AgentSessions.Functions.Tests.Webhooks;

/// <summary>The dispatcher on the in-process Durable engine, delivering to a real HTTP listener on loopback, logging to Azurite.</summary>
[Collection(WebhookCollection.Name)]
public sealed class WebhookDispatcherTests(AzuriteFixture azurite)
{
    private static readonly DateTimeOffset T0 = new(2025, 10, 5, 18, 4, 34, 281, TimeSpan.Zero);

    private Task<WebhookTestHost> StartHostAsync(WebhookOptions? options = null) =>
        WebhookTestHost.StartAsync(azurite, options ?? WebhookTestHost.FastOptions());

    [Fact]
    public async Task EveryEvent_DeliveredInOrder_WithExactBodiesHeadersAndValidSignatures()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await StartHostAsync();
        var (sessionId, instanceId) = await host.StartDispatcherAsync(receiver.Url);

        var events = new[]
        {
            WebhookTestHost.Event(WebhookEventNames.SessionCreated, sessionId, new { agent_name = "agi-0", status = "running" }, T0),
            WebhookTestHost.Event(WebhookEventNames.TaskStarted, sessionId, new { task = 1, goal = "find \"x\" & <y> — ü" }, T0.AddMilliseconds(1)),
            WebhookTestHost.Event(WebhookEventNames.TaskQuestion, sessionId, new { message_id = 3, question = "Which one?" }, T0.AddMilliseconds(2)),
            WebhookTestHost.Event(WebhookEventNames.SessionStatusChanged, sessionId, new { old_status = "running", new_status = "waiting_for_input" }, T0.AddMilliseconds(3)),
            WebhookTestHost.Event(WebhookEventNames.TaskDone, sessionId, new { result = "ok" }, T0.AddSeconds(1)),
            WebhookTestHost.Event(WebhookEventNames.TaskError, sessionId, new { error = "boom" }, T0.AddSeconds(2)),
            WebhookTestHost.Event(WebhookEventNames.SessionDeleted, sessionId, new { }, T0.AddSeconds(3)),
        };
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        foreach (var e in events)
        {
            await host.RaiseAsync(instanceId, e);
        }

        var done = await host.WaitForCompletionAsync(instanceId);
        var after = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        Assert.Equal(OrchestrationRuntimeStatus.Completed, done.RuntimeStatus);
        var delivered = receiver.Delivered;
        Assert.Equal(events.Length, receiver.Requests.Count);
        Assert.Equal(events.Select(e => e.Event), delivered.Select(d => d.Header("X-Webhook-Event")));
        Assert.Equal(events.Select((_, i) => $"{sessionId}-{i + 1}"), delivered.Select(d => d.Header("X-Webhook-Id")));

        // The wire format, byte for byte: the event id is in the body too, so the signature covers it.
        Assert.Equal(
            "{\"event_id\":\"" + sessionId + "-1\",\"event\":\"session.created\",\"timestamp\":\"2025-10-05T18:04:34.281Z\",\"session_id\":\"" + sessionId +
            "\",\"data\":{\"agent_name\":\"agi-0\",\"status\":\"running\"}}",
            delivered[0].BodyText);
        Assert.Equal(
            "{\"event_id\":\"" + sessionId + "-4\",\"event\":\"session.status_changed\",\"timestamp\":\"2025-10-05T18:04:34.284Z\",\"session_id\":\"" + sessionId +
            "\",\"data\":{\"old_status\":\"running\",\"new_status\":\"waiting_for_input\"}}",
            delivered[3].BodyText);
        Assert.Equal(
            "{\"event_id\":\"" + sessionId + "-7\",\"event\":\"session.deleted\",\"timestamp\":\"2025-10-05T18:04:37.281Z\",\"session_id\":\"" + sessionId + "\",\"data\":{}}",
            delivered[6].BodyText);
        var started = JsonDocument.Parse(delivered[1].Body).RootElement;
        Assert.Equal("find \"x\" & <y> — ü", started.GetProperty("data").GetProperty("goal").GetString());

        foreach (var request in delivered)
        {
            Assert.Equal("application/json", request.Header("Content-Type"));
            Assert.Equal(request.EventId, JsonDocument.Parse(request.Body).RootElement.GetProperty("event_id").GetString());
            var timestamp = long.Parse(request.Header("X-Webhook-Timestamp")!, CultureInfo.InvariantCulture);
            Assert.InRange(timestamp, before - 1, after + 1);

            // Checked with the library helper and independently, exactly as a receiver would.
            Assert.True(WebhookSignature.Verify(WebhookTestHost.Secret, request.Header("X-Webhook-Timestamp"), request.Body,
                request.Header("X-Webhook-Signature"), DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)));
            var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(WebhookTestHost.Secret),
                (byte[])[.. Encoding.UTF8.GetBytes(request.Header("X-Webhook-Timestamp") + "."), .. request.Body]));
            Assert.Equal(expected, request.Header("X-Webhook-Signature"));
        }

        // session.deleted was final: the dispatcher removed the session's log on its way out.
        Assert.Empty(await host.LogAsync(instanceId));
    }

    [Fact]
    public async Task ReceiverAnswering503ForAWhile_EventsStillDeliveredInOrder_SameIdAndBodyOnEveryAttempt()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (request, _) => Task.FromResult(request.Number <= 3 ? 503 : 200);
        await using var host = await StartHostAsync();
        var (sessionId, instanceId) = await host.StartDispatcherAsync(receiver.Url);

        var events = Enumerable.Range(1, 4).Select(i => WebhookTestHost.Event(WebhookEventNames.TaskStarted, sessionId, new { task = i }))
            .Append(WebhookTestHost.Event(WebhookEventNames.SessionDeleted, sessionId, new { })).ToList();
        foreach (var e in events)
        {
            await host.RaiseAsync(instanceId, e);
        }

        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await host.WaitForCompletionAsync(instanceId)).RuntimeStatus);

        var requests = receiver.Requests;
        Assert.Equal([503, 503, 503, 200], requests.Take(4).Select(r => r.Status));
        Assert.All(requests.Take(4), r => Assert.Equal($"{sessionId}-1", r.EventId));
        Assert.Single(requests.Take(4).Select(r => r.BodyText).Distinct());
        Assert.Equal(events.Select((e, i) => Encoding.UTF8.GetString(WebhookBody.Serialize(e, $"{sessionId}-{i + 1}"))),
            receiver.Delivered.Select(d => d.BodyText));
    }

    [Fact]
    public async Task ReceiverDownThenUp_EventsStillDeliveredInOrder()
    {
        // "Down": the port accepts connections and resets them at once, so each failed attempt can be counted.
        var down = new TcpListener(IPAddress.Loopback, 0);
        down.Start();
        var port = ((IPEndPoint)down.LocalEndpoint).Port;
        var refused = 0;
        var downLoop = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    using var connection = await down.AcceptTcpClientAsync();
                    Interlocked.Increment(ref refused);
                    connection.Client.LingerState = new LingerOption(true, 0);
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                // Stopped (an accept that starts after Stop throws InvalidOperationException).
            }
        });

        // Attempts 1 s, 2 s, then 2 s apart: plenty of time to bring the receiver up in between.
        await using var host = await StartHostAsync(WebhookTestHost.FastOptions(schedule: WebhookTestHost.Schedule(60, 1, 2)));
        var (sessionId, instanceId) = await host.StartDispatcherAsync(new Uri($"http://127.0.0.1:{port}/hooks/session"));
        var events = new[]
        {
            WebhookTestHost.Event(WebhookEventNames.SessionCreated, sessionId, new { n = 1 }),
            WebhookTestHost.Event(WebhookEventNames.TaskStarted, sessionId, new { n = 2 }),
            WebhookTestHost.Event(WebhookEventNames.SessionDeleted, sessionId, new { n = 3 }),
        };
        foreach (var e in events)
        {
            await host.RaiseAsync(instanceId, e);
        }

        await Eventually.ValueAsync(() => Task.FromResult(Volatile.Read(ref refused)), n => n >= 1, TimeSpan.FromSeconds(30), "a failed attempt");
        down.Stop();
        await downLoop;
        await using var receiver = await WebhookReceiver.StartAsync(port);

        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await host.WaitForCompletionAsync(instanceId)).RuntimeStatus);
        Assert.Equal(events.Select((e, i) => Encoding.UTF8.GetString(WebhookBody.Serialize(e, $"{sessionId}-{i + 1}"))),
            receiver.Delivered.Select(d => d.BodyText));
        Assert.Equal($"{sessionId}-1", receiver.Requests[0].EventId);
    }

    [Fact]
    public async Task OutageOfSeveralMinutes_OnTheProductionScheduleScaledDown_DeliversEveryEventInOrder_WithHistoryBounded()
    {
        // The production schedule (5 s, 30 s, 2 min, 10 min, 1 h, then hourly, for 24 h) at 1/200 of its size, and an
        // outage of 5 minutes at the same scale (1.5 s). It outlasts not just the old policy (3 retries, 2 s, 4 s, 8 s)
        // but the first three steps of the new one: only the fourth retry gets through.
        const double scale = 200;
        var schedule = WebhookTestHost.Schedule(86_400 / scale, 5 / scale, 30 / scale, 120 / scale, 600 / scale, 3600 / scale);
        var outage = TimeSpan.FromMinutes(5) / scale;
        await using var receiver = await WebhookReceiver.StartAsync();
        DateTimeOffset? firstRequest = null;
        receiver.Respond = (request, _) =>
        {
            firstRequest ??= request.At;
            return Task.FromResult(request.At - firstRequest < outage ? 503 : 200);
        };
        // A generation every 8 activities, timers and events, so the outage spans several of them.
        await using var host = await StartHostAsync(WebhookTestHost.FastOptions(schedule: schedule, operationsPerGeneration: 8));
        var (sessionId, instanceId) = await host.StartDispatcherAsync(receiver.Url);

        const int count = 12;
        for (var i = 1; i <= count; i++)
        {
            await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.TaskStarted, sessionId, new { n = i }, key: $"k{i}"));
        }

        // While it lasts, the log lists what is held up: the first event with its attempts and next retry, the rest pending.
        var during = await Eventually.ValueAsync(() => host.LogAsync(instanceId),
            log => log.Count == count && log[^1].AttemptCount >= 3, TimeSpan.FromSeconds(20), "the outage in the log");
        Assert.All(during, record => Assert.Equal(WebhookStates.Pending, record.State));
        Assert.NotNull(during[^1].NextAttemptAt);
        Assert.All(during.Take(count - 1), record => Assert.Equal(0, record.AttemptCount));

        var delivered = await Eventually.ValueAsync(() => Task.FromResult(receiver.Delivered), d => d.Count == count, TimeSpan.FromSeconds(30),
            "every event after the outage");
        Assert.Equal(Enumerable.Range(1, count), delivered.Select(d => JsonDocument.Parse(d.Body).RootElement.GetProperty("data").GetProperty("n").GetInt32()));
        Assert.Equal(Enumerable.Range(1, count).Select(i => $"{sessionId}-{i}"), delivered.Select(d => d.EventId));

        // Every attempt of the first event, as the receiver saw them and as the log shows them.
        var first = receiver.Requests.Where(r => r.EventId == $"{sessionId}-1").ToList();
        Assert.Equal([503, 503, 503, 503, 200], first.Select(r => r.Status));
        var gaps = first.Zip(first.Skip(1), (a, b) => (b.At - a.At).TotalSeconds).ToList();
        Assert.InRange(gaps[2], 120 / scale * 0.9, 120 / scale * 3);
        Assert.InRange(gaps[3], 600 / scale * 0.9, 600 / scale * 2);
        var logged = (await host.LogAsync(instanceId)).Single(r => r.Sequence == 1);
        Assert.Equal(WebhookStates.Delivered, logged.State);
        Assert.Equal([503, 503, 503, 503, 200], logged.Attempts.Select(a => a.StatusCode!.Value));
        Assert.Equal([1, 2, 3, 4, 5], logged.Attempts.Select(a => a.Number));

        var metadata = await host.Client.GetInstanceAsync(instanceId, getInputsAndOutputs: true);
        Assert.True(metadata!.ReadInputAs<WebhookDispatcherInput>()!.Generation >= 3, "the outage should span several generations");
        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.SessionDeleted, sessionId, new { }));
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await host.WaitForCompletionAsync(instanceId)).RuntimeStatus);
        Assert.Equal(count + 1, receiver.Delivered.Count);
    }

    [Fact]
    public async Task RetryAfter_On429And503_IsHonoured()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (request, _) =>
        {
            switch (request.Number)
            {
                case 1:
                    request.ResponseHeaders["Retry-After"] = "1";
                    return Task.FromResult(429);
                case 2:
                    request.ResponseHeaders["Retry-After"] = "2";
                    return Task.FromResult(503);
                default:
                    return Task.FromResult(200);
            }
        };
        await using var host = await StartHostAsync(); // the schedule alone would retry after 0.2 s and 0.4 s
        var (sessionId, instanceId) = await host.StartDispatcherAsync(receiver.Url);

        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.TaskStarted, sessionId, new { }));
        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.SessionDeleted, sessionId, new { }));
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await host.WaitForCompletionAsync(instanceId)).RuntimeStatus);

        var requests = receiver.Requests;
        Assert.Equal([429, 503, 200, 200], requests.Select(r => r.Status));
        Assert.True(requests[1].At - requests[0].At >= TimeSpan.FromSeconds(0.95), $"429 Retry-After: 1 waited {requests[1].At - requests[0].At}");
        Assert.True(requests[2].At - requests[1].At >= TimeSpan.FromSeconds(1.95), $"503 Retry-After: 2 waited {requests[2].At - requests[1].At}");
    }

    [Fact]
    public async Task Gone410_StopsDeliveriesForTheSession_LaterEventsAbandoned_UntilARedeliverySucceeds()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (request, _) => Task.FromResult(request.Number == 2 ? 410 : 200);
        await using var host = await StartHostAsync();
        var (sessionId, instanceId) = await host.StartDispatcherAsync(receiver.Url);

        for (var i = 1; i <= 4; i++)
        {
            await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.TaskStarted, sessionId, new { n = i }));
        }

        var log = await Eventually.ValueAsync(() => host.LogAsync(instanceId), l => l.Count == 4 && l.All(r => r.State != WebhookStates.Pending),
            null, "every event final");
        Assert.Equal([WebhookStates.Abandoned, WebhookStates.Abandoned, WebhookStates.Failed, WebhookStates.Delivered], log.Select(r => r.State));
        Assert.Equal(410, Assert.Single(log[2].Attempts).StatusCode);
        Assert.Equal(2, receiver.Requests.Count);
        await Eventually.ValueAsync(() => host.Client.GetInstanceAsync(instanceId, getInputsAndOutputs: true),
            m => m!.ReadCustomStatusAs<WebhookDispatcherStatus>() is { Stopped: true }, null, "the dispatcher to show it stopped");

        // Events after the 410 are not sent either.
        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.TaskDone, sessionId, new { n = 5 }));
        await Eventually.ValueAsync(() => host.LogAsync(instanceId), l => l.Count == 5 && l[0].State == WebhookStates.Abandoned, null, "event 5 abandoned");
        Assert.Equal(2, receiver.Requests.Count);

        // A redelivery that gets through turns deliveries back on.
        var third = log[1];
        await host.Client.RaiseEventAsync(instanceId, WebhookDispatch.RedeliverEventName,
            new WebhookRedelivery(third.Sequence, third.EventId, third.Event, third.Body!, "r1"));
        await Eventually.ValueAsync(() => host.LogAsync(instanceId), l => l.Single(r => r.Sequence == 3).State == WebhookStates.Delivered, null,
            "event 3 redelivered");
        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.SessionDeleted, sessionId, new { n = 6 }));
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await host.WaitForCompletionAsync(instanceId)).RuntimeStatus);
        Assert.Equal([$"{sessionId}-1", $"{sessionId}-3", $"{sessionId}-6"], receiver.Delivered.Select(r => r.EventId));
        Assert.Equal(third.Body, receiver.Delivered[1].BodyText);
    }

    [Fact]
    public async Task Other4xx_IsNotRetried_AndTheNextEventGoesOut()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (request, _) => Task.FromResult(request.Number == 1 ? 400 : 200);
        await using var host = await StartHostAsync();
        var (sessionId, instanceId) = await host.StartDispatcherAsync(receiver.Url);

        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.TaskStarted, sessionId, new { }));
        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.SessionDeleted, sessionId, new { }));
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await host.WaitForCompletionAsync(instanceId)).RuntimeStatus);

        Assert.Equal([(400, $"{sessionId}-1"), (200, $"{sessionId}-2")], receiver.Requests.Select(r => (r.Status, r.EventId!)));
    }

    [Fact]
    public async Task ReceiverThatNeverAnswers_IsGivenUpAtTheEndOfTheWindow_AndTheNextEventsGoOut()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (request, aborted) => request.EventName == WebhookEventNames.TaskStarted
            ? WebhookReceiver.NeverAnswer(aborted)
            : Task.FromResult(200);
        var options = WebhookTestHost.FastOptions(deliveryTimeout: TimeSpan.FromMilliseconds(500), schedule: WebhookTestHost.Schedule(2, 0.2, 0.4));
        await using var host = await StartHostAsync(options);
        var (sessionId, instanceId) = await host.StartDispatcherAsync(receiver.Url);

        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.TaskStarted, sessionId, new { task = 1 }));
        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.TaskDone, sessionId, new { result = "ok" }));

        var log = await Eventually.ValueAsync(() => host.LogAsync(instanceId), l => l.Count == 2 && l[0].State == WebhookStates.Delivered,
            TimeSpan.FromSeconds(30), "the hung event given up and the next delivered");
        var hung = log[1];
        Assert.Equal(WebhookStates.Failed, hung.State);
        Assert.True(hung.AttemptCount >= 2, $"{hung.AttemptCount} attempts");
        Assert.All(hung.Attempts, a => Assert.Equal("no answer within 0.5 s", a.Error![..22]));
        Assert.Contains("gave up after", hung.Attempts[^1].Error);
        Assert.All(receiver.Requests.Where(r => r.EventId == $"{sessionId}-1"), r => Assert.Equal(0, r.Status));
        Assert.Equal([$"{sessionId}-2"], receiver.Delivered.Select(d => d.EventId));
    }

    [Fact]
    public async Task ManyEventsAcrossContinueAsNew_NoneLostNoneReordered()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await StartHostAsync(WebhookTestHost.FastOptions(operationsPerGeneration: 16));
        var (sessionId, instanceId) = await host.StartDispatcherAsync(receiver.Url);

        // Raised back to back, so many arrive while a delivery is in flight or the dispatcher continues as new.
        const int count = 120;
        for (var i = 1; i <= count; i++)
        {
            await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.TaskStarted, sessionId, new { n = i }));
        }

        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.SessionDeleted, sessionId, new { n = count + 1 }));

        var done = await host.WaitForCompletionAsync(instanceId, TimeSpan.FromSeconds(120));
        Assert.Equal(OrchestrationRuntimeStatus.Completed, done.RuntimeStatus);
        Assert.True(done.ReadInputAs<WebhookDispatcherInput>()!.Generation >= count / 16, "a generation per 16 operations");

        var delivered = receiver.Delivered;
        Assert.Equal(count + 1, receiver.Requests.Count);
        Assert.Equal(Enumerable.Range(1, count + 1),
            delivered.Select(d => JsonDocument.Parse(d.Body).RootElement.GetProperty("data").GetProperty("n").GetInt32()));
        Assert.Equal(Enumerable.Range(1, count + 1).Select(i => $"{sessionId}-{i}"), delivered.Select(d => d.EventId));
    }

    [Fact]
    public async Task ADuplicatedEvent_SameKey_IsDeliveredOnce_NotAsANewEventWithAnotherId()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await StartHostAsync();
        var (sessionId, instanceId) = await host.StartDispatcherAsync(receiver.Url);

        // Durable delivers events at least once: the same event (same sender key) can arrive twice.
        var created = WebhookTestHost.Event(WebhookEventNames.SessionCreated, sessionId, new { }, key: "a");
        await host.RaiseAsync(instanceId, created);
        await host.RaiseAsync(instanceId, created);
        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.TaskStarted, sessionId, new { }, key: "b"));
        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.SessionDeleted, sessionId, new { }, key: "c"));
        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.SessionDeleted, sessionId, new { }));
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await host.WaitForCompletionAsync(instanceId)).RuntimeStatus);

        Assert.Equal([(WebhookEventNames.SessionCreated, $"{sessionId}-1"), (WebhookEventNames.TaskStarted, $"{sessionId}-2"),
            (WebhookEventNames.SessionDeleted, $"{sessionId}-3")], receiver.Requests.Select(r => (r.EventName!, r.EventId!)));
    }

    [Fact]
    public async Task RedeliveryDuringARetryWait_TriesTheEventNow_AndMarksTheAttempt()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (request, _) => Task.FromResult(request.Number == 1 ? 503 : 200);
        // The next scheduled attempt would be a minute away.
        await using var host = await StartHostAsync(WebhookTestHost.FastOptions(schedule: WebhookTestHost.Schedule(600, 60)));
        var (sessionId, instanceId) = await host.StartDispatcherAsync(receiver.Url);

        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.TaskStarted, sessionId, new { }));
        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.TaskDone, sessionId, new { }));
        var waiting = await Eventually.ValueAsync(() => host.LogAsync(instanceId), l => l.Count == 2 && l[1].AttemptCount == 1, null,
            "the first event waiting for its retry, the second listed behind it");
        Assert.Equal(WebhookStates.Pending, waiting[0].State);

        var head = waiting[1];
        await host.Client.RaiseEventAsync(instanceId, WebhookDispatch.RedeliverEventName,
            new WebhookRedelivery(head.Sequence, head.EventId, head.Event, head.Body!, "r1"));
        var log = await Eventually.ValueAsync(() => host.LogAsync(instanceId), l => l.All(r => r.State == WebhookStates.Delivered),
            TimeSpan.FromSeconds(20), "both delivered long before the scheduled retry");

        Assert.Equal([(1, false), (2, true)], log[1].Attempts.Select(a => (a.Number, a.RedeliveryId is not null)));
        Assert.Equal([$"{sessionId}-1", $"{sessionId}-2"], receiver.Delivered.Select(r => r.EventId));
    }

    [Fact]
    public async Task UrlRefusedAtDeliveryTime_NothingSent_EventFailed_AndTheDispatcherCarriesOn()
    {
        // Private networks are not allowed here, so the loopback receiver must never be reached.
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await StartHostAsync(WebhookTestHost.FastOptions(allowPrivateNetworks: false));
        var (sessionId, instanceId) = await host.StartDispatcherAsync(receiver.Url);

        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.SessionCreated, sessionId, new { }));
        var log = await Eventually.ValueAsync(() => host.LogAsync(instanceId), l => l.Count == 1 && l[0].State == WebhookStates.Failed, null, "refused");
        Assert.StartsWith("not sent:", log[0].Attempts.Single().Error);

        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.SessionDeleted, sessionId, new { }));
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await host.WaitForCompletionAsync(instanceId, TimeSpan.FromSeconds(30))).RuntimeStatus);
        Assert.Empty(receiver.Requests);
    }
}
