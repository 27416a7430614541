using System.Collections.Concurrent;
using System.Net;
using System.Text;
using AgentSessions.Functions.Agents;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Tests.Agents;

/// <summary>One request the fake agent received.</summary>
public sealed record ReceivedRequest(string Method, string Path, string Query, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;
}

/// <summary>
/// A real Kestrel listener on 127.0.0.1 and a free port, standing in for an agent endpoint. Every request is recorded;
/// <see cref="Respond"/> decides the answer. 
/// </summary>
public sealed class FakeAgentServer : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly ConcurrentQueue<ReceivedRequest> requests = new();

    private FakeAgentServer(WebApplication app, Uri baseUrl)
    {
        this.app = app;
        BaseUrl = baseUrl;
    }

    /// <summary><c>http://127.0.0.1:port/</c>.</summary>
    public Uri BaseUrl { get; }

    public IHttpClientFactory HttpClients => AgentHttpClients.Shared;

    public IReadOnlyList<ReceivedRequest> Requests => [.. requests];

    /// <summary>Answers each request; the default answers 404.</summary>
    public Func<ReceivedRequest, HttpContext, Task> Respond { get; set; } = (_, context) => Text(context, 404, "no handler");

    public static async Task<FakeAgentServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        FakeAgentServer? server = null;
        app.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            var received = new ReceivedRequest(context.Request.Method, context.Request.Path.Value ?? "", context.Request.QueryString.Value ?? "",
                context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase), body);
            server!.requests.Enqueue(received);
            try
            {
                await server.Respond(received, context);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                // The client gave up (a timeout test): nothing to answer.
            }
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        server = new FakeAgentServer(app, new Uri(address.TrimEnd('/') + "/"));
        return server;
    }

    /// <summary>An http agent definition pointing at <paramref name="path"/> on this server.</summary>
    public AgentDefinition Agent(string name = "remote", string path = "agent", string? headerName = "Authorization",
        string? headerValue = "Bearer secret-token", TimeSpan? timeout = null) =>
        new(name, AgentCatalog.HttpType, TimeSpan.Zero, new Uri(BaseUrl, path), headerName, headerValue, timeout);

    public static async Task Json(HttpContext context, int status, string json)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(json, context.RequestAborted);
    }

    public static async Task Text(HttpContext context, int status, string text)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain";
        await context.Response.WriteAsync(text, context.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await app.StopAsync(stop.Token);
        await app.DisposeAsync();
    }
}
