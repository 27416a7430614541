using System.Collections.Concurrent;
using System.Net;
using System.Reflection;
using System.Runtime.ExceptionServices;
using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Events;
using AgentSessions.Functions.Health;
using AgentSessions.Functions.Http;
using AgentSessions.Functions.Observability;
using AgentSessions.Functions.Tests.Observability;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Middleware;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentSessions.Functions.Tests.Infrastructure;

/// <summary>What <see cref="ApiTestServer"/> serves besides the host's sessions.</summary>
public sealed record ApiTestServerOptions
{
    /// <summary>Event stream settings; the default polls quickly so tests see events soon.</summary>
    public EventStreamOptions Events { get; init; } = new() { PollInterval = TimeSpan.FromMilliseconds(100) };

    /// <summary>With it, <c>GET /v1/health</c> checks this Azurite as the app checks its storage; without it the health function cannot be built (500).</summary>
    public AzuriteFixture? Azurite { get; init; }
}

/// <summary>One request as the server saw it, for tests about what a client sent (e.g. a reconnect's <c>Last-Event-ID</c>).</summary>
public sealed record ServedRequest(string Function, string Method, string Target, string? LastEventId);

/// <summary>
/// The whole HTTP API on a real Kestrel listener on 127.0.0.1, over a <see cref="SessionTestHost"/> (its Durable engine,
/// message store and keys). Every <c>[Function]</c> with an <c>[HttpTrigger]</c> in the app is mapped by its route and
/// methods — the same table the host builds, literal segments before parameters before the catch-all — and each
/// request runs the way the isolated worker runs it: the function class built from services, its parameters bound
/// (request, route values, Durable client), the app's worker middleware around the call in Program.cs's order, and
/// the returned <see cref="IActionResult"/> executed on the live response after the middleware, as the ASP.NET Core
/// integration does. Kestrel is configured with the app's own <see cref="RequestHeaderEncoding"/>.
/// </summary>
public sealed class ApiTestServer : IAsyncDisposable
{
    /// <summary>Request header a client sets so a test can find the server-side task of its own request.</summary>
    public const string TraceHeader = "X-Test-Trace";

    private readonly WebApplication app;
    private readonly ConcurrentDictionary<string, Task> serverWork = new();
    private readonly ConcurrentDictionary<HttpContext, byte> openStreams = new();
    private readonly ConcurrentQueue<Exception> unhandled = new();
    private readonly ConcurrentQueue<ServedRequest> requests = new();
    private readonly IServiceProvider services;
    private readonly SessionTestHost host;

    private ApiTestServer(WebApplication app, IServiceProvider services, SessionTestHost host, Uri baseAddress)
    {
        this.app = app;
        this.services = services;
        this.host = host;
        BaseAddress = baseAddress;
        // No draining on dispose: a client that closes a stream must close the connection at once.
        Client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0, PooledConnectionLifetime = TimeSpan.Zero, AllowAutoRedirect = false })
        {
            BaseAddress = baseAddress,
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public Uri BaseAddress { get; }

    /// <summary>A client of this server (no redirects followed, no timeout: tests set deadlines per call).</summary>
    public HttpClient Client { get; }

    /// <summary>Exceptions functions threw that were not API errors (each became a 500): there must be none.</summary>
    public IReadOnlyCollection<Exception> Unhandled => unhandled;

    public IReadOnlyCollection<ServedRequest> Requests => requests;

    public static async Task<ApiTestServer> StartAsync(SessionTestHost host, ApiTestServerOptions? options = null)
    {
        options ??= new ApiTestServerOptions();
        var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton(TimeProvider.System)
            .AddSingleton(host.Auth)
            .AddSingleton(host.Gateways)
            .AddSingleton(host.Store)
            .AddSingleton(host.Options)
            .AddSingleton(host.Agents)
            .AddSingleton(new AgentResolver(host.Agents, TimeProvider.System, Agents.AgentHttpClients.Shared))
            .AddSingleton(options.Events);
        if (options.Azurite is { } azurite)
        {
            services.AddSessionHealth(new ConfigurationBuilder()
                .AddInMemoryCollection(new Dictionary<string, string?> { ["AzureWebJobsStorage"] = azurite.ConnectionString })
                .Build());
        }

        var provider = services.BuildServiceProvider();
        var routes = HttpRoutes.Discover(typeof(HttpRoutes).Assembly);
        foreach (var route in routes)
        {
            CheckBindable(route);
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel =>
        {
            RequestHeaderEncoding.Configure(kestrel); // as Program.cs configures the worker's Kestrel
            kestrel.Listen(IPAddress.Loopback, 0);
        });
        var app = builder.Build();
        ApiTestServer? server = null;
        foreach (var route in routes)
        {
            RequestDelegate handler = context => server!.Track(route, context);
            var pattern = "/" + route.Template;
            if (route.AnyMethod)
            {
                app.Map(pattern, handler);
            }
            else
            {
                app.MapMethods(pattern, route.Methods, handler);
            }
        }

        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        server = new ApiTestServer(app, provider, host, new Uri(address.TrimEnd('/') + "/"));
        return server;
    }

    /// <summary>Drops every open event stream's connection, as a network failure would; returns how many.</summary>
    public int DropEventStreams()
    {
        var dropped = 0;
        foreach (var context in openStreams.Keys)
        {
            try
            {
                context.Abort();
                dropped++;
            }
            catch (ObjectDisposedException)
            {
                // The stream ended on its own between the snapshot of the keys and the abort: nothing left to drop.
            }
        }

        return dropped;
    }

    /// <summary>The server-side task that served the request with this <see cref="TraceHeader"/> value.</summary>
    public Task ServerWork(string trace) =>
        serverWork.TryGetValue(trace, out var work) ? work : throw new InvalidOperationException($"no request {trace} reached the server");

    private Task Track(HttpRoute route, HttpContext context)
    {
        var work = ServeAsync(route, context);
        if (context.Request.Headers[TraceHeader].ToString() is { Length: > 0 } trace)
        {
            serverWork[trace] = work;
        }

        return work;
    }

    private async Task ServeAsync(HttpRoute route, HttpContext context)
    {
        var request = context.Request;
        var lastEventId = request.Headers[EventFunctions.LastEventIdHeader].ToString();
        requests.Enqueue(new ServedRequest(route.FunctionName, request.Method, request.Path + request.QueryString, lastEventId.Length > 0 ? lastEventId : null));
        var isStream = route.FunctionName == "StreamEvents";
        if (isStream)
        {
            openStreams[context] = 0;
        }

        try
        {
            var bindingData = request.RouteValues.ToDictionary(v => v.Key, v => (object?)v.Value?.ToString());
            var functionContext = FunctionPipeline.Context(route.FunctionName, context, bindingData);
            object? result = null;
            FunctionExecutionDelegate function = async c => result = await InvokeAsync(route, context, c);

            // The app's worker middleware, in the order Program.cs registers it (first = outermost).
            var scope = new SessionLogScopeMiddleware(NullLogger<SessionLogScopeMiddleware>.Instance);
            var errors = new ErrorBodyMiddleware(NullLogger<ErrorBodyMiddleware>.Instance);
            try
            {
                await scope.Invoke(functionContext, c => errors.Invoke(c, function));
            }
            catch (Exception exception)
            {
                // What the middleware let through: the host answers an empty 500.
                unhandled.Enqueue(exception);
                if (!context.Response.HasStarted)
                {
                    context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                }

                return;
            }

            // The ASP.NET Core integration executes the invocation's result after the middleware has returned.
            if (result is IActionResult action)
            {
                await action.ExecuteResultAsync(new ActionContext(context, context.GetRouteData(), new ActionDescriptor()));
            }
        }
        finally
        {
            if (isStream)
            {
                openStreams.TryRemove(context, out _);
            }
        }
    }

    private async Task<object?> InvokeAsync(HttpRoute route, HttpContext context, FunctionContext functionContext)
    {
        var method = route.Method;
        var instance = method.IsStatic ? null : ActivatorUtilities.CreateInstance(services, method.DeclaringType!);
        var arguments = method.GetParameters().Select(p => Bind(p, context, functionContext)).ToArray();
        object? returned;
        try
        {
            returned = method.Invoke(instance, arguments);
            if (returned is Task task)
            {
                await task;
                returned = task.GetType().GetProperty(nameof(Task<object>.Result))?.GetValue(task);
            }
        }
        catch (TargetInvocationException exception) when (exception.InnerException is not null)
        {
            Record(exception.InnerException);
            ExceptionDispatchInfo.Capture(exception.InnerException).Throw();
            throw;
        }
        catch (Exception exception)
        {
            Record(exception);
            throw;
        }

        return returned;
    }

    /// <summary>A function's failure that is no API error becomes a 500: the tests require there are none.</summary>
    private void Record(Exception exception)
    {
        if (ErrorBodyMiddleware.Unwrap(exception) is null)
        {
            unhandled.Enqueue(exception);
        }
    }

    private object? Bind(ParameterInfo parameter, HttpContext context, FunctionContext functionContext) => parameter switch
    {
        _ when parameter.GetCustomAttribute<HttpTriggerAttribute>() is not null => context.Request,
        { ParameterType: var type } when type == typeof(DurableTaskClient) => host.Client,
        // As in the worker, the invocation's token is not the request's: only RequestAborted says the client left.
        { ParameterType: var type } when type == typeof(CancellationToken) => CancellationToken.None,
        { ParameterType: var type } when type == typeof(FunctionContext) => functionContext,
        { ParameterType: var type } when type == typeof(string) => context.Request.RouteValues[parameter.Name!]?.ToString(),
        _ => throw new NotSupportedException($"no binding for parameter {parameter.Name}"),
    };

    /// <summary>A function with a parameter this server cannot bind fails the start, not a request.</summary>
    private static void CheckBindable(HttpRoute route)
    {
        foreach (var parameter in route.Method.GetParameters())
        {
            var type = parameter.ParameterType;
            var bindable = parameter.GetCustomAttribute<HttpTriggerAttribute>() is not null
                || type == typeof(DurableTaskClient) || type == typeof(CancellationToken) || type == typeof(FunctionContext)
                || (type == typeof(string) && route.Template.Contains("{" + parameter.Name, StringComparison.Ordinal));
            if (!bindable)
            {
                throw new NotSupportedException(
                    $"{route.FunctionName}: ApiTestServer cannot bind parameter '{parameter.Name}' ({type.Name}); teach it this binding.");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        DropEventStreams();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await app.StopAsync(timeout.Token);
        await app.DisposeAsync();
        if (services is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync();
        }
    }
}
