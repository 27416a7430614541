using System.Collections;
using AgentSessions.Functions.Sessions;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Middleware;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Observability;

/// <summary>
/// Puts the session id of a request (the route's <c>{sessionId}</c>) into a log scope, so every line logged while the
/// function runs carries <c>SessionId</c> (a custom dimension in Application Insights). Only a well-formed id is
/// used, in its canonical form: the raw route text is caller input and never reaches a log.
/// </summary>
public sealed class SessionLogScopeMiddleware(ILogger<SessionLogScopeMiddleware> logger) : IFunctionsWorkerMiddleware
{
    /// <summary>The route parameter the session endpoints bind.</summary>
    public const string RouteParameter = "sessionId";

    public async Task Invoke(FunctionContext context, FunctionExecutionDelegate next)
    {
        using var scope = SessionIdOf(context) is { } sessionId ? logger.BeginScope(new SessionLogScope(sessionId)) : null;
        await next(context);
    }

    public static string? SessionIdOf(FunctionContext context) =>
        context.BindingContext.BindingData.TryGetValue(RouteParameter, out var raw) && raw is string text
            && SessionIds.TryNormalize(text, out var sessionId)
            ? sessionId
            : null;
}

/// <summary>The scope state: one <c>SessionId</c> pair, which logging providers turn into a structured property.</summary>
public sealed class SessionLogScope(string sessionId) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public const string Key = "SessionId";

    public string SessionId { get; } = sessionId;

    public int Count => 1;

    public KeyValuePair<string, object?> this[int index] =>
        index == 0 ? new(Key, SessionId) : throw new ArgumentOutOfRangeException(nameof(index));

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        yield return this[0];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"{Key}:{SessionId}";
}
