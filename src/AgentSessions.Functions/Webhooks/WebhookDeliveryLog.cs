using System.Globalization;
using System.Text.Json;
using AgentSessions.Functions.Http;
using Azure;
using Azure.Data.Tables;

namespace AgentSessions.Functions.Webhooks;

/// <summary>
/// Each session's recent webhook events with their attempts, for <c>GET /v1/sessions/{id}/webhooks</c> and redelivery.
/// Written only by the dispatcher's activities (so the orchestration stays free of I/O); every write is idempotent, so an
/// activity that runs twice leaves the same rows. Keyed by the session's instance id (<c>owner:uuid</c>).
/// </summary>
public interface IWebhookDeliveryLog
{
    /// <summary>
    /// Records one attempt of <paramref name="entry"/>. A scheduled attempt (number ≥ 1) replaces an earlier record of the same
    /// number; a redelivery (number 0) is numbered after the last attempt, once per redelivery id. With <paramref name="state"/>
    /// null (a redelivery) the event's state only changes to delivered on a 2xx.
    /// </summary>
    Task RecordAttemptAsync(string sessionKey, WebhookLogEntry entry, WebhookLogAttempt attempt, string? state, DateTimeOffset? nextAttemptAt,
        CancellationToken cancellationToken = default);

    /// <summary>Lists events without an attempt: queued (pending) behind an outage, or abandoned after a 410.</summary>
    Task RecordEventsAsync(string sessionKey, IReadOnlyList<WebhookLogEntry> entries, string state, CancellationToken cancellationToken = default);

    /// <summary>The latest events, newest first.</summary>
    Task<IReadOnlyList<WebhookLogRecord>> ListAsync(string sessionKey, int limit, CancellationToken cancellationToken = default);

    Task<WebhookLogRecord?> GetAsync(string sessionKey, long sequence, CancellationToken cancellationToken = default);

    /// <summary>Removes every row of the session. Deleting an unknown session does nothing.</summary>
    Task DeleteSessionAsync(string sessionKey, CancellationToken cancellationToken = default);
}

/// <summary>An event as the log knows it. <paramref name="Body"/> is the exact request body.</summary>
public sealed record WebhookLogEntry(long Sequence, string EventId, string Event, DateTimeOffset Timestamp, DateTimeOffset ReceivedAt, string Body);

/// <summary>One attempt: when, the receiver's status (null: none) or the error, and how long it took.</summary>
/// <param name="RedeliveryId">Set when a user asked for this attempt (<c>…/redeliver</c>).</param>
public sealed record WebhookLogAttempt(int Number, DateTimeOffset At, int? StatusCode, string? Error, long DurationMs, string? RedeliveryId = null);

/// <summary>A logged event with its state and latest attempts. <paramref name="Body"/> is null when it was too large to keep.</summary>
/// <param name="AttemptCount">All attempts ever made; <paramref name="Attempts"/> keeps the latest <see cref="TableWebhookDeliveryLog.MaxAttemptsKept"/>.</param>
public sealed record WebhookLogRecord(
    long Sequence,
    string EventId,
    string Event,
    DateTimeOffset Timestamp,
    DateTimeOffset ReceivedAt,
    string State,
    DateTimeOffset? NextAttemptAt,
    int AttemptCount,
    IReadOnlyList<WebhookLogAttempt> Attempts,
    string? Body);

/// <summary>
/// <see cref="IWebhookDeliveryLog"/> on Azure Table storage: one table for all sessions, PartitionKey = session key, one row per
/// event with RowKey <c>e</c> + (<see cref="long.MaxValue"/> − number) as 19 digits, so a plain query returns the newest first.
/// Attempts are a JSON list in the row (the latest <see cref="MaxAttemptsKept"/>); the body is kept in string chunks of
/// <see cref="ChunkChars"/> (a property holds 32 Ki chars), up to <see cref="MaxStoredBodyChars"/>. Writing the row of event
/// <c>n</c> removes rows of events up to <c>n − eventsPerSession</c>, so a session's log stays bounded.
/// </summary>
public sealed class TableWebhookDeliveryLog(TableClient table, int eventsPerSession = 100) : IWebhookDeliveryLog
{
    public const string DefaultTableName = "WebhookDeliveries";
    public const int MaxAttemptsKept = 50;
    public const int MaxErrorChars = 500;
    public const int ChunkChars = 30_000;
    public const int MaxStoredBodyChars = 10 * ChunkChars;

    private const string RowPrefix = "e";
    private const int ConcurrencyAttempts = 5;

    private readonly SemaphoreSlim ensureLock = new(1, 1);
    private volatile bool ensured;

    public string TableName => table.Name;

    public async Task RecordAttemptAsync(string sessionKey, WebhookLogEntry entry, WebhookLogAttempt attempt, string? state,
        DateTimeOffset? nextAttemptAt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(attempt);
        await EnsureTableAsync(cancellationToken);
        attempt = attempt with { Error = Truncate(attempt.Error) };
        var rowKey = RowKey(entry.Sequence);
        for (var round = 1; ; round++)
        {
            var existing = await table.GetEntityIfExistsAsync<TableEntity>(sessionKey, rowKey, cancellationToken: cancellationToken);
            var entity = existing.HasValue ? existing.Value! : NewEntity(sessionKey, entry);
            var attempts = ReadAttempts(entity);
            var numbered = Number(attempts, attempt);
            attempts.RemoveAll(a => a.Number == numbered.Number);
            attempts.Add(numbered);
            attempts.Sort((a, b) => a.Number.CompareTo(b.Number));
            if (attempts.Count > MaxAttemptsKept)
            {
                attempts.RemoveRange(0, attempts.Count - MaxAttemptsKept);
            }

            var delivered = attempt.StatusCode is >= 200 and < 300;
            entity["Attempts"] = JsonSerializer.Serialize(attempts, WebhookJsonContext.Default.ListWebhookLogAttempt);
            entity["AttemptCount"] = Math.Max(entity.GetInt32("AttemptCount") ?? 0, numbered.Number);
            if (state is not null)
            {
                entity["State"] = state;
                entity["NextAttemptAt"] = FormatTime(nextAttemptAt);
            }
            else if (delivered)
            {
                entity["State"] = WebhookStates.Delivered;
                entity["NextAttemptAt"] = string.Empty;
            }

            try
            {
                if (existing.HasValue)
                {
                    await table.UpdateEntityAsync(entity, entity.ETag, TableUpdateMode.Replace, cancellationToken);
                }
                else
                {
                    await table.AddEntityAsync(entity, cancellationToken);
                }

                break;
            }
            catch (RequestFailedException conflict) when (conflict.Status is 409 or 412 && round < ConcurrencyAttempts)
            {
                // Another run of the same activity wrote first: read again and merge into what it wrote.
            }
        }

        if (attempt.Number == 1 && attempt.RedeliveryId is null)
        {
            await TrimAsync(sessionKey, entry.Sequence, cancellationToken);
        }
    }

    public async Task RecordEventsAsync(string sessionKey, IReadOnlyList<WebhookLogEntry> entries, string state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0)
        {
            return;
        }

        await EnsureTableAsync(cancellationToken);
        foreach (var entry in entries)
        {
            // Merge: the attempts of an event that has some (the one a 410 stopped) are kept.
            var entity = NewEntity(sessionKey, entry);
            entity["State"] = state;
            entity["NextAttemptAt"] = string.Empty;
            await table.UpsertEntityAsync(entity, TableUpdateMode.Merge, cancellationToken);
        }

        await TrimAsync(sessionKey, entries.Max(e => e.Sequence), cancellationToken);
    }

    public async Task<IReadOnlyList<WebhookLogRecord>> ListAsync(string sessionKey, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        await EnsureTableAsync(cancellationToken);
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {sessionKey} and RowKey ge {RowPrefix} and RowKey lt {"f"}");
        var records = new List<WebhookLogRecord>();
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, maxPerPage: Math.Min(limit, 1000), cancellationToken: cancellationToken))
        {
            records.Add(ToRecord(entity));
            if (records.Count >= limit)
            {
                break;
            }
        }

        return records;
    }

    public async Task<WebhookLogRecord?> GetAsync(string sessionKey, long sequence, CancellationToken cancellationToken = default)
    {
        await EnsureTableAsync(cancellationToken);
        var found = await table.GetEntityIfExistsAsync<TableEntity>(sessionKey, RowKey(sequence), cancellationToken: cancellationToken);
        return found.HasValue ? ToRecord(found.Value!) : null;
    }

    public async Task DeleteSessionAsync(string sessionKey, CancellationToken cancellationToken = default)
    {
        await EnsureTableAsync(cancellationToken);
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {sessionKey}");
        var keys = new List<string>();
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, select: ["RowKey"], cancellationToken: cancellationToken))
        {
            keys.Add(entity.RowKey);
        }

        foreach (var batch in keys.Chunk(100))
        {
            try
            {
                await table.SubmitTransactionAsync(
                    batch.Select(key => new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(sessionKey, key), ETag.All)),
                    cancellationToken);
            }
            catch (TableTransactionFailedException)
            {
                // A row went in the meantime (a concurrent delete): remove the rest one by one.
                foreach (var key in batch)
                {
                    await table.DeleteEntityAsync(sessionKey, key, ETag.All, cancellationToken);
                }
            }
        }
    }

    /// <summary>Removes the rows of events <paramref name="newest"/> − eventsPerSession and older.</summary>
    private async Task TrimAsync(string sessionKey, long newest, CancellationToken cancellationToken)
    {
        var oldestKept = newest - eventsPerSession + 1;
        if (oldestKept <= 1)
        {
            return;
        }

        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {sessionKey} and RowKey gt {RowKey(oldestKept)} and RowKey lt {"f"}");
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, select: ["RowKey"], cancellationToken: cancellationToken))
        {
            await table.DeleteEntityAsync(sessionKey, entity.RowKey, ETag.All, cancellationToken);
        }
    }

    private static WebhookLogAttempt Number(List<WebhookLogAttempt> attempts, WebhookLogAttempt attempt)
    {
        if (attempt.Number >= 1)
        {
            return attempt;
        }

        // A redelivery run twice (an activity retried) keeps the number it got the first time.
        var same = attempts.FirstOrDefault(a => a.RedeliveryId is not null && a.RedeliveryId == attempt.RedeliveryId);
        return attempt with { Number = same?.Number ?? (attempts.Count == 0 ? 1 : attempts.Max(a => a.Number) + 1) };
    }

    private static TableEntity NewEntity(string sessionKey, WebhookLogEntry entry)
    {
        var entity = new TableEntity(sessionKey, RowKey(entry.Sequence))
        {
            ["Seq"] = entry.Sequence,
            ["EventId"] = entry.EventId,
            ["Event"] = entry.Event,
            ["EventAt"] = FormatTime(entry.Timestamp),
            ["ReceivedAt"] = FormatTime(entry.ReceivedAt),
        };
        var stored = entry.Body.Length <= MaxStoredBodyChars;
        var chunks = stored ? Chunks(entry.Body) : [];
        entity["BodyStored"] = stored;
        entity["BodyChunks"] = chunks.Count;
        for (var i = 0; i < chunks.Count; i++)
        {
            entity["Body" + i.ToString(CultureInfo.InvariantCulture)] = chunks[i];
        }

        return entity;
    }

    private static List<string> Chunks(string body)
    {
        var chunks = new List<string>();
        for (var start = 0; start < body.Length;)
        {
            var length = Math.Min(ChunkChars, body.Length - start);
            if (start + length < body.Length && char.IsHighSurrogate(body[start + length - 1]))
            {
                length--;
            }

            chunks.Add(body.Substring(start, length));
            start += length;
        }

        return chunks;
    }

    private static WebhookLogRecord ToRecord(TableEntity entity)
    {
        string? body = null;
        if (entity.GetBoolean("BodyStored") == true)
        {
            var count = entity.GetInt32("BodyChunks") ?? 0;
            body = string.Concat(Enumerable.Range(0, count).Select(i => entity.GetString("Body" + i.ToString(CultureInfo.InvariantCulture)) ?? string.Empty));
        }

        return new WebhookLogRecord(
            entity.GetInt64("Seq") ?? 0,
            entity.GetString("EventId") ?? string.Empty,
            entity.GetString("Event") ?? string.Empty,
            ParseTime(entity.GetString("EventAt")) ?? default,
            ParseTime(entity.GetString("ReceivedAt")) ?? default,
            entity.GetString("State") ?? WebhookStates.Pending,
            ParseTime(entity.GetString("NextAttemptAt")),
            entity.GetInt32("AttemptCount") ?? 0,
            ReadAttempts(entity),
            body);
    }

    private static List<WebhookLogAttempt> ReadAttempts(TableEntity entity) =>
        entity.GetString("Attempts") is { Length: > 0 } json
            ? JsonSerializer.Deserialize(json, WebhookJsonContext.Default.ListWebhookLogAttempt) ?? []
            : [];

    private static string RowKey(long sequence) => RowPrefix + (long.MaxValue - sequence).ToString("D19", CultureInfo.InvariantCulture);

    private static string FormatTime(DateTimeOffset? time) => time?.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) ?? string.Empty;

    private static DateTimeOffset? ParseTime(string? text) =>
        string.IsNullOrEmpty(text) ? null : DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    private static string? Truncate(string? error) => error is { Length: > MaxErrorChars } ? error[..(MaxErrorChars - 1)] + "…" : error;

    private async Task EnsureTableAsync(CancellationToken cancellationToken)
    {
        if (ensured)
        {
            return;
        }

        // Not a cached Lazy<Task>: a creation that failed once (storage briefly away) is tried again on the next call.
        await ensureLock.WaitAsync(cancellationToken);
        try
        {
            if (!ensured)
            {
                await table.CreateIfNotExistsAsync(cancellationToken);
                ensured = true;
            }
        }
        finally
        {
            ensureLock.Release();
        }
    }
}
