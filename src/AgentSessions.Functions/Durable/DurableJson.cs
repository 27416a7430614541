using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using AgentSessions.Core.Agents;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Webhooks;
using Azure.Core.Serialization;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Converters;

namespace AgentSessions.Functions.Durable;

/// <summary>
/// The one JSON configuration of everything the app hands to Durable: orchestration inputs and outputs, custom
/// status, event data and activity payloads. The Functions host takes the Durable data converter from the worker's
/// serializer, so <see cref="Configure"/> sets that; the test engines and the benchmark use <see cref="Converter"/>,
/// so every engine serializes exactly as production does.
/// </summary>
/// <remarks>
/// Property names stay as the worker's default writes them (PascalCase, read case-insensitively), so payloads already
/// stored in a task hub still read. Escaping is relaxed: these payloads are never embedded in HTML, and the default
/// encoder's <c>\uXXXX</c> for every non-ASCII or HTML-sensitive character would make sizes (the custom status
/// limit is counted in UTF-16) up to six times the text's length.
/// </remarks>
public static class DurableJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    /// <summary>For Durable Task workers and clients outside the Functions host (tests, benchmark).</summary>
    public static DataConverter Converter { get; } = new JsonDataConverter(Options);

    /// <summary>Bytes of <paramref name="value"/> serialized as Durable stores it, counted as UTF-16 (the host's measure).</summary>
    public static int Utf16Bytes<T>(T value) => Encoding.Unicode.GetByteCount(JsonSerializer.Serialize(value, Options));

    /// <summary>The worker's serializer, which the Durable extension wraps as its data converter.</summary>
    public static void Configure(Microsoft.Azure.Functions.Worker.WorkerOptions worker)
    {
        ArgumentNullException.ThrowIfNull(worker);
        worker.Serializer = new JsonObjectSerializer(Options);
    }

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions
        {
            PropertyNameCaseInsensitive = true,
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            // Generated code for the app's own payloads; anything else (a type a feature adds later) by reflection.
            TypeInfoResolver = JsonTypeInfoResolver.Combine(DurableJsonContext.Default, new DefaultJsonTypeInfoResolver()),
        };
        options.MakeReadOnly();
        return options;
    }
}

[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(SessionInput))]
[JsonSerializable(typeof(SessionStatusSnapshot))]
[JsonSerializable(typeof(CommandEnvelope))]
[JsonSerializable(typeof(AppendMessagesInput))]
[JsonSerializable(typeof(Core.Sessions.StepRequest))]
[JsonSerializable(typeof(AgentStepResult))]
[JsonSerializable(typeof(WebhookEvent))]
[JsonSerializable(typeof(WebhookDispatcherInput))]
[JsonSerializable(typeof(WebhookAttemptRequest))]
[JsonSerializable(typeof(WebhookAttemptResult))]
[JsonSerializable(typeof(WebhookLogBatch))]
internal sealed partial class DurableJsonContext : JsonSerializerContext;
