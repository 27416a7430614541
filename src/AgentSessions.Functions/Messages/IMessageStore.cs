using AgentSessions.Core.Sessions;

namespace AgentSessions.Functions.Messages;

/// <summary>Durable storage of a session's messages, keyed by the session's Durable instance id.</summary>
public interface IMessageStore
{
    /// <summary>
    /// Stores <paramref name="messages"/> under <paramref name="sessionKey"/>. Idempotent: writing the same
    /// (sessionKey, id) again overwrites it with the given data, so retries and replays of a Durable activity are harmless.
    /// </summary>
    Task AppendAsync(string sessionKey, IReadOnlyList<SessionMessage> messages, CancellationToken cancellationToken = default);

    /// <summary>Messages with <c>Id &gt; afterId</c>, ascending by id, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<SessionMessage>> ReadAsync(string sessionKey, long afterId, int limit, CancellationToken cancellationToken = default);

    /// <summary>Removes every stored message of the session. Deleting an unknown session does nothing.</summary>
    Task DeleteSessionAsync(string sessionKey, CancellationToken cancellationToken = default);
}
