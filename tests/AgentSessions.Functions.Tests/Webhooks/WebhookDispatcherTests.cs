using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using AgentSessions.Functions.Tests.Infrastructure;
using AgentSessions.Functions.Webhooks;
using Microsoft.DurableTask.Client;

namespace AgentSessions.Functions.Tests.Webhooks;

/// <summary>The dispatcher on the in-process Durable engine, delivering to a real HTTP listener on loopback.</summary>
public sealed class WebhookDispatcherTests
{
    private static readonly DateTimeOffset T0 = new(2025, 10, 5, 18, 4, 34, 281, TimeSpan.Zero);

    [Fact]
    public async Task EveryEvent_DeliveredInOrder_WithExactBodiesHeadersAndValidSignatures()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await WebhookTestHost.StartAsync(WebhookTestHost.FastOptions());
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

        // The wire format, byte for byte.
        Assert.Equal(
            "{\"event\":\"session.created\",\"timestamp\":\"2025-10-05T18:04:34.281Z\",\"session_id\":\"" + sessionId +
            "\",\"data\":{\"agent_name\":\"agi-0\",\"status\":\"running\"}}",
            delivered[0].BodyText);
        Assert.Equal(
            "{\"event\":\"session.status_changed\",\"timestamp\":\"2025-10-05T18:04:34.284Z\",\"session_id\":\"" + sessionId +
            "\",\"data\":{\"old_status\":\"running\",\"new_status\":\"waiting_for_input\"}}",
            delivered[3].BodyText);
        Assert.Equal(
            "{\"event\":\"session.deleted\",\"timestamp\":\"2025-10-05T18:04:37.281Z\",\"session_id\":\"" + sessionId + "\",\"data\":{}}",
            delivered[6].BodyText);
        var started = System.Text.Json.JsonDocument.Parse(delivered[1].Body).RootElement;
        Assert.Equal("find \"x\" & <y> — ü", started.GetProperty("data").GetProperty("goal").GetString());

        foreach (var request in delivered)
        {
            Assert.Equal("application/json", request.Header("Content-Type"));
            var timestamp = long.Parse(request.Header("X-Webhook-Timestamp")!, CultureInfo.InvariantCulture);
            Assert.InRange(timestamp, before - 1, after + 1);

            // Checked with the library helper and independently, exactly as a receiver would.
            Assert.True(WebhookSignature.Verify(WebhookTestHost.Secret, request.Header("X-Webhook-Timestamp"), request.Body,
                request.Header("X-Webhook-Signature"), DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)));
            var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(WebhookTestHost.Secret),
                (byte[])[.. Encoding.UTF8.GetBytes(request.Header("X-Webhook-Timestamp") + "."), .. request.Body]));
            Assert.Equal(expected, request.Header("X-Webhook-Signature"));
        }
    }

    [Fact]
    public async Task ReceiverAnswering503ForAWhile_EventsStillDeliveredInOrder()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (request, _) => Task.FromResult(request.Number <= 3 ? 503 : 200);
        await using var host = await WebhookTestHost.StartAsync(WebhookTestHost.FastOptions());
        var (sessionId, instanceId) = await host.StartDispatcherAsync(receiver.Url);

        var events = Enumerable.Range(1, 4).Select(i => WebhookTestHost.Event(WebhookEventNames.TaskStarted, sessionId, new { task = i }))
            .Append(WebhookTestHost.Event(WebhookEventNames.SessionDeleted, sessionId, new { })).ToList();
        foreach (var e in events)
        {
            await host.RaiseAsync(instanceId, e);
        }

        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await host.WaitForCompletionAsync(instanceId)).RuntimeStatus);

        // The first event took all four attempts (three 503s, then a 200), always with the same id and body.
        var requests = receiver.Requests;
        Assert.Equal([503, 503, 503, 200], requests.Take(4).Select(r => r.Status));
        Assert.All(requests.Take(4), r => Assert.Equal($"{sessionId}-1", r.Header("X-Webhook-Id")));
        Assert.Single(requests.Take(4).Select(r => r.BodyText).Distinct());
        Assert.Equal(events.Select(e => WebhookBody.Serialize(e)).Select(Encoding.UTF8.GetString), receiver.Delivered.Select(d => d.BodyText));
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
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Stopped.
            }
        });

        // Attempts about 1 s, 2 s and 4 s apart: plenty of time to bring the receiver up in between.
        await using var host = await WebhookTestHost.StartAsync(WebhookTestHost.FastOptions(firstRetry: TimeSpan.FromSeconds(1)));
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
        Assert.Equal(events.Select(e => Encoding.UTF8.GetString(WebhookBody.Serialize(e))), receiver.Delivered.Select(d => d.BodyText));
        Assert.Equal($"{sessionId}-1", receiver.Requests[0].Header("X-Webhook-Id"));
    }

    [Fact]
    public async Task ReceiverThatNeverAnswers_DispatcherGivesUpAfterRetriesAndDeliversTheNextEvents()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (request, aborted) => request.Header("X-Webhook-Event") == WebhookEventNames.TaskStarted
            ? WebhookReceiver.NeverAnswer(aborted)
            : Task.FromResult(200);
        await using var host = await WebhookTestHost.StartAsync(WebhookTestHost.FastOptions(deliveryTimeout: TimeSpan.FromMilliseconds(500)));
        var (sessionId, instanceId) = await host.StartDispatcherAsync(receiver.Url);

        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.TaskStarted, sessionId, new { task = 1 }));
        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.TaskDone, sessionId, new { result = "ok" }));
        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.SessionDeleted, sessionId, new { }));

        // 4 × 0.5 s timeouts plus 0.2 + 0.4 + 0.8 s between them: a few seconds, not a stall.
        var done = await host.WaitForCompletionAsync(instanceId, TimeSpan.FromSeconds(30));
        Assert.Equal(OrchestrationRuntimeStatus.Completed, done.RuntimeStatus);

        var hung = receiver.Requests.Where(r => r.Header("X-Webhook-Id") == $"{sessionId}-1").ToList();
        Assert.Equal(4, hung.Count);
        Assert.All(hung, r => Assert.Equal(0, r.Status));
        Assert.Equal([WebhookEventNames.TaskDone, WebhookEventNames.SessionDeleted], receiver.Delivered.Select(d => d.Header("X-Webhook-Event")));
        Assert.Equal([$"{sessionId}-2", $"{sessionId}-3"], receiver.Delivered.Select(d => d.Header("X-Webhook-Id")));
    }

    [Fact]
    public async Task ManyEventsAcrossContinueAsNew_NoneLostNoneReordered()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await WebhookTestHost.StartAsync(WebhookTestHost.FastOptions());
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
        Assert.Equal(count / WebhookDispatcherOrchestration.DeliveriesPerGeneration, done.ReadInputAs<WebhookDispatcherInput>()!.Generation);

        var delivered = receiver.Delivered;
        Assert.Equal(count + 1, receiver.Requests.Count);
        Assert.Equal(Enumerable.Range(1, count + 1),
            delivered.Select(d => System.Text.Json.JsonDocument.Parse(d.Body).RootElement.GetProperty("data").GetProperty("n").GetInt32()));
        Assert.Equal(Enumerable.Range(1, count + 1).Select(i => $"{sessionId}-{i}"), delivered.Select(d => d.Header("X-Webhook-Id")));
    }

    [Fact]
    public async Task UrlRefusedAtDeliveryTime_NothingSentAndTheDispatcherCarriesOn()
    {
        // Private networks are not allowed here, so the loopback receiver must never be reached.
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await WebhookTestHost.StartAsync(WebhookTestHost.FastOptions(allowPrivateNetworks: false));
        var (sessionId, instanceId) = await host.StartDispatcherAsync(receiver.Url);

        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.SessionCreated, sessionId, new { }));
        await host.RaiseAsync(instanceId, WebhookTestHost.Event(WebhookEventNames.SessionDeleted, sessionId, new { }));

        var done = await host.WaitForCompletionAsync(instanceId, TimeSpan.FromSeconds(30));
        Assert.Equal(OrchestrationRuntimeStatus.Completed, done.RuntimeStatus);
        Assert.Empty(receiver.Requests);
    }
}
