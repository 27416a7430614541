using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Agents.Llm;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Tests.Agents.Llm;

/// <summary>One chat-completions request the fake model received.</summary>
public sealed record ModelRequest(string Path, IReadOnlyDictionary<string, string> Headers, JsonElement Body)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

    public IReadOnlyList<JsonElement> Messages => [.. Body.GetProperty("messages").EnumerateArray()];

    /// <summary>Every message as <c>role: text</c>, tool calls as <c>assistant: name(args)</c>, for asserting a conversation.</summary>
    public IReadOnlyList<string> Transcript => [.. Messages.Select(Line)];

    private static string Line(JsonElement message)
    {
        var role = message.GetProperty("role").GetString();
        var text = message.TryGetProperty("content", out var content) ? ContentText(content) : string.Empty;
        if (message.TryGetProperty("tool_calls", out var calls) && calls.ValueKind == JsonValueKind.Array)
        {
            var called = calls.EnumerateArray().Select(c =>
            {
                var function = c.GetProperty("function");
                var arguments = JsonNode.Parse(function.GetProperty("arguments").GetString()!)!.ToJsonString();
                return $"{function.GetProperty("name").GetString()}({arguments})";
            });
            text = string.Join(" ", new[] { text }.Where(t => t.Length > 0).Concat(called));
        }

        if (message.TryGetProperty("tool_call_id", out var id))
        {
            text = $"[{id.GetString()}] {text}";
        }

        return $"{role}: {text}";
    }

    private static string ContentText(JsonElement content) => content.ValueKind switch
    {
        JsonValueKind.String => content.GetString()!,
        JsonValueKind.Array => string.Concat(content.EnumerateArray().Select(p => p.TryGetProperty("text", out var t) ? t.GetString() : string.Empty)),
        _ => string.Empty,
    };
}

/// <summary>A tool call the fake model answers with.</summary>
public sealed record FakeToolCall(string Name, string Arguments, string? Id = null);

/// <summary>
/// An OpenAI-compatible chat-completions endpoint on 127.0.0.1 and a free port (real Kestrel, the real wire format),
/// scripted per test: each request takes the next answer from <see cref="Script"/>, and a request with no answer left
/// fails loudly (HTTP 500 and a recorded problem). It also serves web pages for <c>fetch_url</c> from <see cref="Pages"/>.
/// </summary>
public sealed class FakeModelServer : IAsyncDisposable
{
    public const string Model = "fake-model-1";

    private readonly WebApplication app;
    private readonly ConcurrentQueue<ModelRequest> requests = new();
    private readonly ConcurrentQueue<Func<ModelRequest, HttpContext, Task>> script = new();
    private readonly ConcurrentQueue<string> pageRequests = new();
    private readonly ConcurrentQueue<string> unexpected = new();

    private FakeModelServer(WebApplication app, Uri baseUrl)
    {
        this.app = app;
        BaseUrl = baseUrl;
    }

    /// <summary><c>http://127.0.0.1:port/</c>.</summary>
    public Uri BaseUrl { get; }

    /// <summary>What an llm agent puts in <c>Endpoint</c>.</summary>
    public Uri Endpoint => new(BaseUrl, "v1/");

    public IReadOnlyList<ModelRequest> Requests => [.. requests];

    /// <summary>Paths of the page requests received, e.g. <c>/pages/a</c>.</summary>
    public IReadOnlyList<string> PageRequests => [.. pageRequests];

    /// <summary>Requests that found no scripted answer.</summary>
    public IReadOnlyList<string> Unexpected => [.. unexpected];

    /// <summary>Pages served under <c>/pages/…</c>: path → handler.</summary>
    public ConcurrentDictionary<string, Func<HttpContext, Task>> Pages { get; } = new();

    public static async Task<FakeModelServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        FakeModelServer? server = null;
        app.Run(context => server!.HandleAsync(context));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        server = new FakeModelServer(app, new Uri(address.TrimEnd('/') + "/"));
        return server;
    }

    /// <summary>The options of an llm agent pointing here, with <paramref name="configure"/> applied.</summary>
    public LlmAgentOptions Options(string name = "llm", Func<LlmAgentOptions, LlmAgentOptions>? configure = null)
    {
        var options = new LlmAgentOptions
        {
            AgentName = name,
            Endpoint = Endpoint,
            Model = Model,
            Credential = LlmCredential.ApiKey,
            ApiKey = "sk-test-0123456789",
            Temperature = 0.2f,
            MaxOutputTokens = 256,
            Timeout = TimeSpan.FromSeconds(20),
        };
        return configure is null ? options : configure(options);
    }

    public AgentDefinition Agent(string name = "llm", Func<LlmAgentOptions, LlmAgentOptions>? configure = null) =>
        new(name, AgentCatalog.LlmType, TimeSpan.Zero, Llm: Options(name, configure));

    /// <summary>Queues answers for the next requests, in order.</summary>
    public FakeModelServer Then(params Func<ModelRequest, HttpContext, Task>[] answers)
    {
        foreach (var answer in answers)
        {
            script.Enqueue(answer);
        }

        return this;
    }

    /// <summary>Queues one turn that calls <paramref name="calls"/>.</summary>
    public FakeModelServer ThenCalls(params FakeToolCall[] calls) => Then(Reply(calls));

    public static FakeToolCall Call(string name, object arguments, string? id = null) =>
        new(name, JsonSerializer.Serialize(arguments), id);

    /// <summary>A 200 chat completion: optional text, the tool calls, usage 100 + n in, 10 + n out.</summary>
    public static Func<ModelRequest, HttpContext, Task> Reply(FakeToolCall[] calls, string? text = null, string? finishReason = null,
        bool usage = true) =>
        (request, context) => Json(context, 200, Completion(request, calls, text, finishReason, usage));

    public static Func<ModelRequest, HttpContext, Task> Status(int status, string body) => (_, context) => Json(context, status, body);

    public static Func<ModelRequest, HttpContext, Task> Raw(int status, string contentType, string body) => async (_, context) =>
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        await context.Response.WriteAsync(body, context.RequestAborted);
    };

    /// <summary>Answers with <paramref name="then"/> only once <paramref name="gate"/> completes (or the client gives up).</summary>
    public static Func<ModelRequest, HttpContext, Task> After(Task gate, Func<ModelRequest, HttpContext, Task> then, TaskCompletionSource? answered = null) =>
        async (request, context) =>
        {
            await gate.WaitAsync(context.RequestAborted);
            await then(request, context);
            await context.Response.CompleteAsync();
            answered?.TrySetResult();
        };

    /// <summary>Never answers: holds the request until the client gives up.</summary>
    public static Func<ModelRequest, HttpContext, Task> Hang() => (_, context) => Task.Delay(Timeout.Infinite, context.RequestAborted);

    public static string Completion(ModelRequest request, FakeToolCall[] calls, string? text = null, string? finishReason = null, bool usage = true)
    {
        var index = 0;
        var message = new JsonObject
        {
            ["role"] = "assistant",
            ["content"] = text,
        };
        if (calls.Length > 0)
        {
            message["tool_calls"] = new JsonArray([.. calls.Select(c => (JsonNode)new JsonObject
            {
                ["id"] = c.Id ?? $"call_{request.Messages.Count}_{index++}",
                ["type"] = "function",
                ["function"] = new JsonObject { ["name"] = c.Name, ["arguments"] = c.Arguments },
            })]);
        }

        var body = new JsonObject
        {
            ["id"] = "chatcmpl-" + Guid.NewGuid().ToString("N")[..12],
            ["object"] = "chat.completion",
            ["created"] = 1_760_000_000,
            ["model"] = Model,
            ["choices"] = new JsonArray(new JsonObject
            {
                ["index"] = 0,
                ["message"] = message,
                ["finish_reason"] = finishReason ?? (calls.Length > 0 ? "tool_calls" : "stop"),
            }),
        };
        if (usage)
        {
            var n = request.Messages.Count;
            body["usage"] = new JsonObject { ["prompt_tokens"] = 100 + n, ["completion_tokens"] = 10 + n, ["total_tokens"] = 110 + (2 * n) };
        }

        return body.ToJsonString();
    }

    /// <summary>Waits until <paramref name="count"/> model requests have arrived, failing after the deadline.</summary>
    public async Task<ModelRequest> WaitForRequestAsync(int count, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(30));
        while (requests.Count < count)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for model request {count}; {requests.Count} arrived.");
            }

            await Task.Delay(10);
        }

        return Requests[count - 1];
    }

    public static async Task Json(HttpContext context, int status, string json)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(json, context.RequestAborted);
    }

    private async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? string.Empty;
        try
        {
            if (path.StartsWith("/pages/", StringComparison.Ordinal))
            {
                pageRequests.Enqueue(path);
                if (Pages.TryGetValue(path, out var page))
                {
                    await page(context);
                }
                else
                {
                    context.Response.StatusCode = 404;
                    await context.Response.WriteAsync("no such page", context.RequestAborted);
                }

                return;
            }

            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            var received = new ModelRequest(path,
                context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
                JsonDocument.Parse(body).RootElement.Clone());
            requests.Enqueue(received);
            if (path != "/v1/chat/completions" || !script.TryDequeue(out var answer))
            {
                unexpected.Enqueue($"{context.Request.Method} {path} (request {requests.Count})");
                await Json(context, 500, """{"error":{"message":"the fake model has no scripted answer for this request","type":"test"}}""");
                return;
            }

            await answer(received, context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client gave up (a timeout test): nothing to answer.
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await app.StopAsync(stop.Token);
        await app.DisposeAsync();
    }
}
