using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Messages;

namespace AgentSessions.Bench.InProcess;

/// <summary>
/// The message store in memory, so the in-process figures are the orchestration's and not Azurite's. With
/// <c>retain: false</c> (the scale probe) it keeps only each session's last id: in production the messages
/// live in Table storage, not in the worker's memory, so they must not count as memory per session.
/// </summary>
public sealed class InMemoryMessageStore(bool retain) : IMessageStore
{
    private readonly Dictionary<string, SortedList<long, SessionMessage>> sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> lastIds = new(StringComparer.Ordinal);

    public Task AppendAsync(string sessionKey, IReadOnlyList<SessionMessage> messages, CancellationToken cancellationToken = default)
    {
        lock (sessions)
        {
            foreach (var message in messages)
            {
                lastIds[sessionKey] = Math.Max(lastIds.GetValueOrDefault(sessionKey), message.Id);
                if (retain)
                {
                    if (!sessions.TryGetValue(sessionKey, out var list))
                    {
                        sessions[sessionKey] = list = [];
                    }

                    list[message.Id] = message;
                }
            }
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<SessionMessage>> ReadAsync(string sessionKey, long afterId, int limit, CancellationToken cancellationToken = default)
    {
        lock (sessions)
        {
            IReadOnlyList<SessionMessage> page = sessions.TryGetValue(sessionKey, out var list)
                ? [.. list.Values.Where(m => m.Id > afterId).Take(limit)]
                : [];
            return Task.FromResult(page);
        }
    }

    public Task DeleteSessionAsync(string sessionKey, CancellationToken cancellationToken = default)
    {
        lock (sessions)
        {
            sessions.Remove(sessionKey);
            lastIds.Remove(sessionKey);
        }

        return Task.CompletedTask;
    }
}
