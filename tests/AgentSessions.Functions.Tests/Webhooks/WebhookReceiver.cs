using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Tests.Webhooks;

/// <summary>One webhook request as the receiver saw it, when, and what it answered (0: it never answered).</summary>
public sealed record ReceivedWebhook(int Number, IReadOnlyDictionary<string, string> Headers, byte[] Body, DateTimeOffset At)
{
    public int Status { get; set; }

    /// <summary>Headers to answer with (e.g. <c>Retry-After</c>); set them in <see cref="WebhookReceiver.Respond"/>.</summary>
    public Dictionary<string, string> ResponseHeaders { get; } = new(StringComparer.OrdinalIgnoreCase);

    public string? EventId => Header("X-Webhook-Id");

    public string? EventName => Header("X-Webhook-Event");

    public string BodyText => Encoding.UTF8.GetString(Body);

    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;
}

/// <summary>
/// A real Kestrel listener on 127.0.0.1 receiving webhooks at <see cref="Url"/>. <see cref="Respond"/> picks the
/// status code (it may also wait until the client gives up); every request is recorded with its answer.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly ConcurrentQueue<ReceivedWebhook> requests = new();
    private int count;

    private WebhookReceiver(WebApplication app, int port)
    {
        this.app = app;
        Url = new Uri($"http://127.0.0.1:{port}/hooks/session");
    }

    public Uri Url { get; }

    /// <summary>Answers each request with a status code; the default is 200.</summary>
    public Func<ReceivedWebhook, CancellationToken, Task<int>> Respond { get; set; } = (_, _) => Task.FromResult(200);

    public IReadOnlyList<ReceivedWebhook> Requests => [.. requests];

    /// <summary>The requests answered with a 2xx, in arrival order.</summary>
    public IReadOnlyList<ReceivedWebhook> Delivered => [.. requests.Where(r => r.Status is >= 200 and < 300)];

    /// <summary>Starts on <paramref name="port"/>, or on a free one when it is 0.</summary>
    public static async Task<WebhookReceiver> StartAsync(int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        WebhookReceiver? receiver = null;
        app.Run(async context =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
            var received = new ReceivedWebhook(Interlocked.Increment(ref receiver!.count), headers, buffer.ToArray(), DateTimeOffset.UtcNow);
            receiver.requests.Enqueue(received);
            try
            {
                var status = await receiver.Respond(received, context.RequestAborted);
                received.Status = status;
                context.Response.StatusCode = status;
                foreach (var (name, value) in received.ResponseHeaders)
                {
                    context.Response.Headers[name] = value;
                }

                await context.Response.WriteAsync("ok", context.RequestAborted);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                // The sender gave up (a timeout test): nothing to answer.
            }
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        receiver = new WebhookReceiver(app, new Uri(address).Port);
        return receiver;
    }

    /// <summary>The requests answered with a 2xx, one per event id (a receiver that de-duplicates).</summary>
    public IReadOnlyList<ReceivedWebhook> DeliveredOnce => [.. Delivered.GroupBy(r => r.EventId).Select(g => g.First())];

    /// <summary>A receiver that hangs until the sender gives up.</summary>
    public static async Task<int> NeverAnswer(CancellationToken aborted)
    {
        await Task.Delay(Timeout.Infinite, aborted);
        return 200;
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await app.StopAsync(stop.Token);
        await app.DisposeAsync();
    }
}
