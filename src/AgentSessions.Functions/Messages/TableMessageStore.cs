using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using AgentSessions.Core.Sessions;
using Azure;
using Azure.Data.Tables;

namespace AgentSessions.Functions.Messages;

/// <summary>
/// <see cref="IMessageStore"/> on Azure Table storage.
/// </summary>
/// <remarks>
/// <para><b>Keys.</b> One table for all sessions. PartitionKey = session key (the Durable instance id, e.g.
/// <c>alice:3f2c…</c>); RowKey = the message id as 19 zero-padded digits, so lexical order is numeric order and
/// "ids after N" is the RowKey range <c>RowKey ge pad(N + 1)</c>.</para>
/// <para><b>Layout of one message.</b> The primary row (RowKey = <c>pad(id)</c>) holds <c>Type</c>, <c>At</c>
/// (the timestamp as round-trip "O" text, so the offset and every tick survive; <c>Timestamp</c> itself is
/// reserved by the table service), the chunk counts <c>ContentChunks</c> / <c>MetadataChunks</c> and <c>Rows</c>
/// (how many rows the message uses, primary included). Content and metadata are stored as their JSON text
/// (<see cref="JsonElement.GetRawText"/>, read back byte-identical) split into string properties
/// <c>C0, C1, …</c> and <c>M0, M1, …</c> of at most <see cref="ChunkChars"/> UTF-16 chars each (a table string
/// property holds 64 KiB = 32 Ki chars); a chunk never ends between the two halves of a surrogate pair.</para>
/// <para><b>Large messages.</b> An entity may hold 1 MiB. Azure counts its stored size (strings at 2 bytes a
/// UTF-16 char); Azurite counts the UTF-8 bytes of the entity's JSON in the request, where the SDK's escaping can
/// take 6 bytes a char (<c>\u00e9</c>). So chunks (content first, then metadata) are packed greedily, in order, into
/// rows whose chunks stay within <see cref="RowBudgetBytes"/> by both measures: 15 chunks of plain ASCII, 5 of
/// text that is all escapes. Rows after the first are overflow rows with RowKey <c>pad(id) + "." + part</c>
/// (3 digits), e.g. <c>0000000000000000017.001</c>: they sort right after their primary row and before the next
/// message, so the paging filter needs no change. A reader gathers the chunk properties of all <c>Rows</c> rows by
/// name. Overflow rows are written before (or in the same transaction as) their primary row, so a reader that sees a
/// primary row finds all its parts; a message whose parts are missing fails the read with
/// <see cref="InvalidDataException"/> — content is never truncated silently.</para>
/// <para><b>Writes.</b> Entity group transactions (same partition, at most 100 operations and well under the 4 MiB
/// request limit) of UpsertReplace, in ascending id order, so a re-append of the same data rewrites identical rows.
/// Overflow rows left by an earlier, larger version of a message (not expected: ids are fixed) are ignored by reads
/// because their part number is ≥ <c>Rows</c>, and removed by <see cref="DeleteSessionAsync"/>.</para>
/// </remarks>
public sealed partial class TableMessageStore : IMessageStore
{
    /// <summary>UTF-16 chars per chunk property (60,000 bytes, below the 64 KiB property limit).</summary>
    public const int ChunkChars = 30_000;

    /// <summary>
    /// Bytes of chunk properties one row may carry, as stored (UTF-16) and as sent (escaped UTF-8 JSON), leaving
    /// room under the 1 MiB entity limit for keys and the other properties.
    /// </summary>
    public const int RowBudgetBytes = 920_000;

    private const int MaxBatchOperations = 100;

    // The service refuses a transaction body over 4 MiB; the estimate below is pessimistic about JSON escaping.
    private const long MaxBatchEstimatedBytes = 3L * 1024 * 1024;
    private const int PerEntityOverheadBytes = 2048;
    private const int MaxTypeChars = 1024;
    private const int MaxRowsPerMessage = 999;
    private const int MaxSessionKeyChars = 512; // 1 KiB PartitionKey limit
    private const char PartSeparator = '.';

    private const string TypeProperty = "Type";
    private const string AtProperty = "At";
    private const string ContentChunksProperty = "ContentChunks";
    private const string MetadataChunksProperty = "MetadataChunks";
    private const string RowsProperty = "Rows";
    private const string ContentChunkPrefix = "C";
    private const string MetadataChunkPrefix = "M";

    private static readonly JsonDocumentOptions ReadJsonOptions = new() { MaxDepth = 1024 };

    private readonly TableClient _table;
    private readonly object _ensureLock = new();
    private Task? _ensureTable;

    public TableMessageStore(TableClient table)
    {
        ArgumentNullException.ThrowIfNull(table);
        ValidateTableName(table.Name);
        _table = table;
    }

    public TableMessageStore(string connectionString, string tableName = MessageStoreOptions.DefaultTableName)
        : this(new TableClient(
            connectionString ?? throw new ArgumentNullException(nameof(connectionString)),
            ValidateTableName(tableName)))
    {
    }

    /// <summary>Name of the table this store uses.</summary>
    public string TableName => _table.Name;

    public async Task AppendAsync(string sessionKey, IReadOnlyList<SessionMessage> messages, CancellationToken cancellationToken = default)
    {
        ValidateSessionKey(sessionKey);
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
        {
            return;
        }

        var ordered = messages.OrderBy(m => m?.Id ?? 0).ToList();
        for (var i = 0; i < ordered.Count; i++)
        {
            var message = ordered[i] ?? throw new ArgumentException("Messages must not contain null.", nameof(messages));
            if (message.Id < 1)
            {
                throw new ArgumentException($"Message ids start at 1; got {message.Id}.", nameof(messages));
            }

            if (i > 0 && ordered[i - 1].Id == message.Id)
            {
                throw new ArgumentException($"Message id {message.Id} appears more than once.", nameof(messages));
            }
        }

        // Every row is built (and every message checked) before anything is written.
        var rows = ordered.SelectMany(message => ToEntities(sessionKey, message)).ToList();

        await EnsureTableAsync(cancellationToken).ConfigureAwait(false);

        var batch = new List<TableTransactionAction>(MaxBatchOperations);
        long batchBytes = 0;
        foreach (var (entity, estimatedBytes) in rows)
        {
            if (batch.Count > 0 && (batch.Count == MaxBatchOperations || batchBytes + estimatedBytes > MaxBatchEstimatedBytes))
            {
                await _table.SubmitTransactionAsync(batch, cancellationToken).ConfigureAwait(false);
                batch = new List<TableTransactionAction>(MaxBatchOperations);
                batchBytes = 0;
            }

            batch.Add(new TableTransactionAction(TableTransactionActionType.UpsertReplace, entity));
            batchBytes += estimatedBytes;
        }

        if (batch.Count > 0)
        {
            await _table.SubmitTransactionAsync(batch, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<IReadOnlyList<SessionMessage>> ReadAsync(string sessionKey, long afterId, int limit, CancellationToken cancellationToken = default)
    {
        ValidateSessionKey(sessionKey);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        if (limit == 0 || afterId == long.MaxValue)
        {
            return [];
        }

        await EnsureTableAsync(cancellationToken).ConfigureAwait(false);

        var firstId = Math.Max(afterId, 0) + 1;
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {sessionKey} and RowKey ge {FormatId(firstId)}");
        var results = new List<SessionMessage>(Math.Min(limit, 1000));
        PendingMessage? pending = null;

        await foreach (var entity in _table.QueryAsync<TableEntity>(filter, Math.Min(limit, 1000), cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            var (id, part) = ParseRowKey(entity.RowKey);
            if (part == 0)
            {
                if (pending is not null)
                {
                    throw MissingParts(sessionKey, pending);
                }

                pending = new PendingMessage(id, entity);
            }
            else if (pending is null || pending.Id != id || part != pending.Parts.Count)
            {
                // An overflow row this read does not need: left from an older, larger version of the message.
                continue;
            }
            else
            {
                pending.Parts.Add(entity);
            }

            if (pending.IsComplete)
            {
                results.Add(pending.ToMessage(sessionKey));
                pending = null;
                if (results.Count == limit)
                {
                    break;
                }
            }
        }

        if (pending is not null)
        {
            throw MissingParts(sessionKey, pending);
        }

        return results;
    }

    public async Task DeleteSessionAsync(string sessionKey, CancellationToken cancellationToken = default)
    {
        ValidateSessionKey(sessionKey);
        await EnsureTableAsync(cancellationToken).ConfigureAwait(false);

        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {sessionKey}");
        // Continuation tokens name the next key, so deleting the rows of each page before asking for the next is safe.
        await foreach (var page in _table.QueryAsync<TableEntity>(filter, 1000, ["RowKey"], cancellationToken).AsPages().ConfigureAwait(false))
        {
            foreach (var chunk in page.Values.Chunk(MaxBatchOperations))
            {
                var actions = chunk
                    .Select(e => new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(sessionKey, e.RowKey), ETag.All))
                    .ToList();
                try
                {
                    await _table.SubmitTransactionAsync(actions, cancellationToken).ConfigureAwait(false);
                }
                catch (RequestFailedException ex) when (ex.Status == 404)
                {
                    // Someone else deleted some of these rows meanwhile: delete the rest one by one.
                    foreach (var action in actions)
                    {
                        try
                        {
                            await _table.DeleteEntityAsync(sessionKey, action.Entity.RowKey, ETag.All, cancellationToken).ConfigureAwait(false);
                        }
                        catch (RequestFailedException inner) when (inner.Status == 404)
                        {
                        }
                    }
                }
            }
        }
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="tableName"/> is a valid Azure table name.</summary>
    public static string ValidateTableName(string tableName)
    {
        ArgumentNullException.ThrowIfNull(tableName);
        if (!TableNamePattern().IsMatch(tableName))
        {
            throw new ArgumentException(
                $"'{tableName}' is not a valid table name: 3-63 letters or digits, starting with a letter.", nameof(tableName));
        }

        return tableName;
    }

    private static void ValidateSessionKey(string sessionKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionKey);
        if (sessionKey.Length > MaxSessionKeyChars)
        {
            throw new ArgumentException($"Session key is longer than {MaxSessionKeyChars} characters.", nameof(sessionKey));
        }

        foreach (var c in sessionKey)
        {
            if (c is '/' or '\\' or '#' or '?' || char.IsControl(c))
            {
                throw new ArgumentException(
                    $"Session key '{sessionKey}' contains a character a table PartitionKey cannot hold (/ \\ # ? or a control character).",
                    nameof(sessionKey));
            }
        }
    }

    private Task EnsureTableAsync(CancellationToken cancellationToken)
    {
        var task = _ensureTable;
        if (task is null || task.IsFaulted || task.IsCanceled)
        {
            lock (_ensureLock)
            {
                task = _ensureTable;
                if (task is null || task.IsFaulted || task.IsCanceled)
                {
                    // Not tied to the first caller's token: a cancelled caller must not spoil creation for the others.
                    task = _table.CreateIfNotExistsAsync(CancellationToken.None);
                    _ensureTable = task;
                }
            }
        }

        return task.IsCompletedSuccessfully ? Task.CompletedTask : task.WaitAsync(cancellationToken);
    }

    private static List<(TableEntity Entity, long EstimatedBytes)> ToEntities(string sessionKey, SessionMessage message)
    {
        if (message.Type is null)
        {
            throw new ArgumentException($"Message {message.Id} has no type.", "messages");
        }

        if (message.Content.ValueKind == JsonValueKind.Undefined)
        {
            throw new ArgumentException($"Message {message.Id} has no content.", "messages");
        }

        // Metadata is always an object on the wire; a message built without one is stored as {}.
        var metadataJson = message.Metadata.ValueKind == JsonValueKind.Undefined ? "{}" : message.Metadata.GetRawText();
        if (message.Type.Length > MaxTypeChars)
        {
            throw new ArgumentException($"Message {message.Id} has a type longer than {MaxTypeChars} characters.", "messages");
        }

        var contentChunks = Split(message.Content.GetRawText());
        var metadataChunks = Split(metadataJson);
        var rowKey = FormatId(message.Id);

        var primary = new TableEntity(sessionKey, rowKey)
        {
            [TypeProperty] = message.Type,
            [AtProperty] = message.Timestamp.ToString("O", CultureInfo.InvariantCulture),
            [ContentChunksProperty] = contentChunks.Count,
            [MetadataChunksProperty] = metadataChunks.Count,
        };
        var entities = new List<TableEntity> { primary };
        var wireEstimates = new List<long> { PerEntityOverheadBytes + WireBytes(sessionKey) + WireBytes(message.Type) };
        long rowStored = 0, rowWire = 0;

        var named = contentChunks.Select((text, i) => (Name: ContentChunkPrefix + i.ToString(CultureInfo.InvariantCulture), Text: text))
            .Concat(metadataChunks.Select((text, i) => (Name: MetadataChunkPrefix + i.ToString(CultureInfo.InvariantCulture), Text: text)));
        foreach (var (name, text) in named)
        {
            // Sizes as the service's entity-size rule counts them, and as Azurite counts them (the JSON sent).
            var stored = 8 + (2L * name.Length) + 4 + (2L * text.Length);
            var wire = WireBytes(name) + WireBytes(text) + 4;
            if (rowStored + stored > RowBudgetBytes || rowWire + wire > RowBudgetBytes)
            {
                if (entities.Count >= MaxRowsPerMessage)
                {
                    throw new ArgumentException($"Message {message.Id} is too large to store.", "messages");
                }

                entities.Add(new TableEntity(sessionKey, FormatPartKey(rowKey, entities.Count)));
                wireEstimates.Add(PerEntityOverheadBytes + WireBytes(sessionKey));
                rowStored = 0;
                rowWire = 0;
            }

            entities[^1][name] = text;
            wireEstimates[^1] += wire;
            rowStored += stored;
            rowWire += wire;
        }

        var rows = entities.Count;
        primary[RowsProperty] = rows;

        // Overflow rows first, the primary row last: a primary row that is visible implies its parts are.
        var ordered = new List<(TableEntity, long)>(rows);
        for (var part = 1; part < rows; part++)
        {
            ordered.Add((entities[part], wireEstimates[part]));
        }

        ordered.Add((primary, wireEstimates[0]));
        return ordered;
    }

    private static List<string> Split(string text)
    {
        var chunks = new List<string>((text.Length / ChunkChars) + 1);
        var position = 0;
        while (position < text.Length)
        {
            var length = Math.Min(ChunkChars, text.Length - position);
            if (position + length < text.Length && char.IsHighSurrogate(text[position + length - 1]))
            {
                length--; // keep the surrogate pair together
            }

            chunks.Add(text.Substring(position, length));
            position += length;
        }

        return chunks;
    }

    /// <summary>
    /// UTF-8 bytes of <paramref name="text"/> as a JSON string with the default (strictest) escaping, an upper
    /// bound of what the SDK sends.
    /// </summary>
    private static long WireBytes(string text) => JsonEncodedText.Encode(text).EncodedUtf8Bytes.Length + 2;

    private static string FormatId(long id) => id.ToString("D19", CultureInfo.InvariantCulture);

    private static string FormatPartKey(string rowKey, int part) =>
        rowKey + PartSeparator + part.ToString("D3", CultureInfo.InvariantCulture);

    private static (long Id, int Part) ParseRowKey(string rowKey)
    {
        var separator = rowKey.IndexOf(PartSeparator, StringComparison.Ordinal);
        var idText = separator < 0 ? rowKey.AsSpan() : rowKey.AsSpan(0, separator);
        var part = 0;
        if (!long.TryParse(idText, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            || (separator >= 0 && !int.TryParse(rowKey.AsSpan(separator + 1), NumberStyles.None, CultureInfo.InvariantCulture, out part)))
        {
            throw new InvalidDataException($"Unexpected RowKey '{rowKey}' in the message table.");
        }

        return (id, part);
    }

    private static InvalidDataException MissingParts(string sessionKey, PendingMessage pending) =>
        new($"Message {pending.Id} of session '{sessionKey}' is incomplete: {pending.Parts.Count} of {pending.ExpectedRows} rows found.");

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9]{2,62}$")]
    private static partial Regex TableNamePattern();

    private sealed class PendingMessage(long id, TableEntity primary)
    {
        public long Id { get; } = id;

        public List<TableEntity> Parts { get; } = [primary];

        public int ExpectedRows { get; } = primary.GetInt32(RowsProperty) ?? 1;

        public bool IsComplete => Parts.Count >= ExpectedRows;

        public SessionMessage ToMessage(string sessionKey)
        {
            var primary = Parts[0];
            var type = primary.GetString(TypeProperty)
                ?? throw Corrupt(sessionKey, $"has no {TypeProperty}");
            var atText = primary.GetString(AtProperty)
                ?? throw Corrupt(sessionKey, $"has no {AtProperty}");
            var timestamp = DateTimeOffset.ParseExact(atText, "O", CultureInfo.InvariantCulture, DateTimeStyles.None);
            var content = ReadJson(sessionKey, ContentChunkPrefix, primary.GetInt32(ContentChunksProperty) ?? 0);
            var metadata = ReadJson(sessionKey, MetadataChunkPrefix, primary.GetInt32(MetadataChunksProperty) ?? 0);
            return new SessionMessage(Id, type, content, timestamp, metadata);
        }

        private JsonElement ReadJson(string sessionKey, string prefix, int chunkCount)
        {
            if (chunkCount < 1)
            {
                throw Corrupt(sessionKey, $"has no {prefix} chunks");
            }

            var text = new StringBuilder();
            for (var i = 0; i < chunkCount; i++)
            {
                var name = prefix + i.ToString(CultureInfo.InvariantCulture);
                string? value = null;
                foreach (var part in Parts)
                {
                    value = part.GetString(name);
                    if (value is not null)
                    {
                        break;
                    }
                }

                text.Append(value ?? throw Corrupt(sessionKey, $"is missing chunk {name}"));
            }

            using var document = JsonDocument.Parse(text.ToString(), ReadJsonOptions);
            return document.RootElement.Clone();
        }

        private InvalidDataException Corrupt(string sessionKey, string what) =>
            new($"Message {Id} of session '{sessionKey}' {what}.");
    }
}
