using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Tests.Observability;

/// <summary>One log line as a provider saw it: the formatted message, every structured value, the scopes and the exception.</summary>
public sealed record CapturedLog(
    string Category,
    LogLevel Level,
    string Message,
    IReadOnlyList<KeyValuePair<string, object?>> State,
    IReadOnlyList<object?> Scopes,
    Exception? Exception)
{
    /// <summary>Everything a log sink could write for this line, as text.</summary>
    public string AllText =>
        string.Join(
            Environment.NewLine,
            new[] { Category, Message, Exception?.ToString() ?? string.Empty }
                .Concat(State.Select(pair => $"{pair.Key}={pair.Value}"))
                .Concat(Scopes.Select(ScopeText)));

    /// <summary>The structured values of the line's scopes (e.g. <c>SessionId</c>).</summary>
    public IEnumerable<KeyValuePair<string, object?>> ScopeValues =>
        Scopes.OfType<IEnumerable<KeyValuePair<string, object?>>>().SelectMany(pairs => pairs);

    private static string ScopeText(object? scope) => scope switch
    {
        IEnumerable<KeyValuePair<string, object?>> pairs => string.Join(";", pairs.Select(p => $"{p.Key}={p.Value}")) + " " + scope,
        _ => scope?.ToString() ?? string.Empty,
    };

    public override string ToString() => $"[{Level}] {Category}: {Message}";
}

/// <summary>An <see cref="ILoggerProvider"/> that keeps every line, with its scopes, for assertions.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    private readonly ConcurrentQueue<CapturedLog> logs = new();
    private IExternalScopeProvider scopes = new LoggerExternalScopeProvider();

    public IReadOnlyList<CapturedLog> Logs => [.. logs];

    /// <summary>A logger factory whose only provider is this one, at every level.</summary>
    public ILoggerFactory CreateFactory() =>
        LoggerFactory.Create(builder => builder.SetMinimumLevel(LogLevel.Trace).AddProvider(this));

    public ILogger CreateLogger(string categoryName) => new CapturingLogger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class CapturingLogger(CapturingLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => provider.scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var scopes = new List<object?>();
            provider.scopes.ForEachScope((scope, list) => list.Add(scope), scopes);
            var values = state as IEnumerable<KeyValuePair<string, object?>> ?? [];
            provider.logs.Enqueue(new CapturedLog(category, logLevel, formatter(state, exception), [.. values], scopes, exception));
        }
    }
}
