using AgentSessions.Functions.Http;
using AgentSessions.Functions.Observability;
using AgentSessions.Functions.Tests.Http;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Tests.Observability;

public sealed class SessionLogScopeMiddlewareTests
{
    private const string SessionId = "0f8fad5b-d9cb-469f-a165-70867728950e";

    [Fact]
    public async Task RouteWithSessionId_EveryLineLoggedByTheFunction_CarriesTheCanonicalSessionId()
    {
        var capture = new CapturingLoggerProvider();
        using var factory = capture.CreateFactory();
        var functionLogger = factory.CreateLogger("Function");
        var http = HttpCall.Get($"/v1/sessions/{SessionId.ToUpperInvariant()}").BuildContext();
        var context = FunctionPipeline.Context("GetSession", http, new Dictionary<string, object?> { ["sessionId"] = SessionId.ToUpperInvariant() });

        await FunctionPipeline.RunAsync(context, _ =>
        {
            functionLogger.LogInformation("reading the session");
            return FunctionPipeline.Ok();
        }, new SessionLogScopeMiddleware(factory.CreateLogger<SessionLogScopeMiddleware>()));

        var line = Assert.Single(capture.Logs);
        Assert.Contains(new KeyValuePair<string, object?>(SessionLogScope.Key, SessionId), line.ScopeValues);
    }

    [Theory]
    [InlineData("not-a-uuid")]
    [InlineData("0f8fad5b-d9cb-469f-a165-70867728950e\r\nforged line")]
    [InlineData("{0f8fad5b-d9cb-469f-a165-70867728950e}")]
    public async Task MalformedSessionId_NoScope_AndTheRawTextIsNeverLogged(string raw)
    {
        var capture = new CapturingLoggerProvider();
        using var factory = capture.CreateFactory();
        var functionLogger = factory.CreateLogger("Function");
        var http = HttpCall.Get("/v1/sessions/x").BuildContext();
        var context = FunctionPipeline.Context("GetSession", http, new Dictionary<string, object?> { ["sessionId"] = raw });

        await FunctionPipeline.RunAsync(context, _ =>
        {
            functionLogger.LogInformation("reading the session");
            return FunctionPipeline.Ok();
        }, new SessionLogScopeMiddleware(factory.CreateLogger<SessionLogScopeMiddleware>()));

        var line = Assert.Single(capture.Logs);
        Assert.DoesNotContain(line.ScopeValues, pair => pair.Key == SessionLogScope.Key);
        Assert.DoesNotContain(raw, line.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FunctionWithoutSessionRoute_RunsWithoutScope()
    {
        var capture = new CapturingLoggerProvider();
        using var factory = capture.CreateFactory();
        var functionLogger = factory.CreateLogger("Function");
        var http = HttpCall.Get("/v1/sessions").BuildContext();
        var context = FunctionPipeline.Context("ListSessions", http, new Dictionary<string, object?>());

        await FunctionPipeline.RunAsync(context, _ =>
        {
            functionLogger.LogInformation("listing");
            return FunctionPipeline.Ok();
        }, new SessionLogScopeMiddleware(factory.CreateLogger<SessionLogScopeMiddleware>()));

        Assert.Empty(Assert.Single(capture.Logs).Scopes);
        Assert.Equal(200, http.Response.StatusCode);
    }

    [Fact]
    public async Task UnhandledError_InTheOrderOfProgramCs_TheErrorLineCarriesTheSessionId_AndTheClientGets500()
    {
        var capture = new CapturingLoggerProvider();
        using var factory = capture.CreateFactory();
        var http = HttpCall.Get($"/v1/sessions/{SessionId}").BuildContext();
        var context = FunctionPipeline.Context("GetSession", http, new Dictionary<string, object?> { ["sessionId"] = SessionId });

        // Program.cs: the scope middleware first (outermost), so ErrorBodyMiddleware logs inside the scope.
        await FunctionPipeline.RunAsync(context, _ => throw new InvalidOperationException("store exploded"),
            new SessionLogScopeMiddleware(factory.CreateLogger<SessionLogScopeMiddleware>()),
            new ErrorBodyMiddleware(factory.CreateLogger<ErrorBodyMiddleware>()));

        Assert.Equal(500, http.Response.StatusCode);
        var error = Assert.Single(capture.Logs, l => l.Level == LogLevel.Error);
        Assert.Contains(new KeyValuePair<string, object?>(SessionLogScope.Key, SessionId), error.ScopeValues);
        Assert.IsType<InvalidOperationException>(error.Exception);
    }
}
