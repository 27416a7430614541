using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AgentSessions.Functions.Events;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Events;

/// <summary>
/// The event stream as a client meets it: the whole API on <see cref="ApiTestServer"/> (a real Kestrel listener, the
/// app's routes and worker middleware), with helpers that open <c>GET /v1/sessions/{id}/events</c> and read frames as
/// they arrive. Each request's server-side work is recorded so tests can check that it ends.
/// </summary>
public sealed class EventStreamServer : IAsyncDisposable
{
    private readonly ApiTestServer server;

    private EventStreamServer(ApiTestServer server) => this.server = server;

    public HttpClient Client => server.Client;

    /// <summary>The whole API behind this server.</summary>
    public ApiTestServer Api => server;

    /// <summary>Exceptions the functions threw that were not API errors (each became a 500): there must be none.</summary>
    public IReadOnlyCollection<Exception> Unhandled => server.Unhandled;

    public static async Task<EventStreamServer> StartAsync(SessionTestHost host, EventStreamOptions options) =>
        new(await ApiTestServer.StartAsync(host, new ApiTestServerOptions { Events = options }));

    /// <summary>
    /// Sends <c>GET /v1/sessions/{id}/events{query}</c> and returns as soon as the response headers arrive.
    /// </summary>
    public async Task<SseConnection> OpenAsync(
        string sessionId, string query = "", string? bearer = SessionTestHost.AliceKey, IDictionary<string, string>? headers = null)
    {
        var trace = Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, $"v1/sessions/{sessionId}/events{query}");
        request.Headers.Add(ApiTestServer.TraceHeader, trace);
        if (bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var response = await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        return new SseConnection(response, await response.Content.ReadAsStreamAsync(timeout.Token), () => server.ServerWork(trace));
    }

    public ValueTask DisposeAsync() => server.DisposeAsync();
}

/// <summary>One event as a client parses it; <see cref="Id"/> is null when the frame had no id line.</summary>
public sealed record SseEvent(string? Id, string Event, string Data)
{
    public JsonElement Json => JsonDocument.Parse(Data).RootElement;

    public long MessageId => long.Parse(Id ?? throw new InvalidOperationException($"{Event} event has no id"), System.Globalization.CultureInfo.InvariantCulture);

    public override string ToString() => $"[{Id}] {Event} {Data}";
}

/// <summary>A streaming response read frame by frame as the bytes arrive (the <c>text/event-stream</c> parsing rules).</summary>
public sealed class SseConnection(HttpResponseMessage response, Stream body, Func<Task> serverWork) : IAsyncDisposable
{
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(30);

    private readonly StreamReader reader = new(body, Encoding.UTF8);

    public HttpResponseMessage Response { get; } = response;

    /// <summary>The server-side handling of this request, complete once the server has let go of it.</summary>
    public Task ServerWork => serverWork();

    /// <summary>The next event, or null when the server ended the stream; fails if nothing arrives in time.</summary>
    public async Task<SseEvent?> ReadAsync(TimeSpan? within = null)
    {
        var wait = within ?? DefaultWait;
        using var deadline = new CancellationTokenSource(wait > TimeSpan.Zero ? wait : TimeSpan.Zero);
        string? id = null, name = null;
        var data = new List<string>();
        try
        {
            while (await reader.ReadLineAsync(deadline.Token) is { } line)
            {
                if (line.Length == 0)
                {
                    if (data.Count > 0 || name is not null)
                    {
                        return new SseEvent(id, name ?? "message", string.Join("\n", data));
                    }

                    continue;
                }

                if (line.StartsWith(':'))
                {
                    continue;
                }

                var colon = line.IndexOf(':');
                var field = colon < 0 ? line : line[..colon];
                var value = colon < 0 ? string.Empty : line[(colon + 1)..];
                if (value.StartsWith(' '))
                {
                    value = value[1..];
                }

                switch (field)
                {
                    case "id":
                        id = value;
                        break;
                    case "event":
                        name = value;
                        break;
                    case "data":
                        data.Add(value);
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            throw new TimeoutException($"no complete event within {(within ?? DefaultWait).TotalSeconds:0.#} s");
        }

        return null;
    }

    /// <summary>Every event until the server ends the stream; fails if it does not end in time.</summary>
    public async Task<List<SseEvent>> ReadToEndAsync(TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? DefaultWait);
        var events = new List<SseEvent>();
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"the stream did not end in time; events so far:{Environment.NewLine}{string.Join(Environment.NewLine, events)}");
            }

            SseEvent? next;
            try
            {
                next = await ReadAsync(left);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"the stream did not end in time; events so far:{Environment.NewLine}{string.Join(Environment.NewLine, events)}");
            }

            if (next is null)
            {
                return events;
            }

            events.Add(next);
        }
    }

    /// <summary>Reads until an event matches, returning everything read (the match last).</summary>
    public async Task<List<SseEvent>> ReadUntilAsync(Func<SseEvent, bool> match, TimeSpan? within = null)
    {
        var events = new List<SseEvent>();
        var deadline = DateTime.UtcNow + (within ?? DefaultWait);
        while (true)
        {
            var next = await ReadAsync(deadline - DateTime.UtcNow)
                ?? throw new InvalidOperationException($"the stream ended first; events:{Environment.NewLine}{string.Join(Environment.NewLine, events)}");
            events.Add(next);
            if (match(next))
            {
                return events;
            }
        }
    }

    /// <summary>The whole body as JSON, for error answers.</summary>
    public async Task<JsonElement> JsonBodyAsync()
    {
        var text = await reader.ReadToEndAsync();
        return JsonDocument.Parse(text).RootElement;
    }

    public ValueTask DisposeAsync()
    {
        reader.Dispose();
        Response.Dispose();
        return ValueTask.CompletedTask;
    }
}
