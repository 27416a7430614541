using System.Buffers;
using System.Text.Json;
using AgentSessions.Functions.Http;

namespace AgentSessions.Functions.Webhooks;

/// <summary>The exact bytes POSTed for an event, and therefore the bytes the signature covers (the event id included).</summary>
public static class WebhookBody
{
    /// <summary>
    /// <c>{"event_id":…,"event":…,"timestamp":"2025-10-05T18:04:34.281Z","session_id":…,"data":{…}}</c>, UTF-8, no whitespace.
    /// The same event and id always give the same bytes, so every attempt and redelivery sends the same body.
    /// </summary>
    public static byte[] Serialize(WebhookEvent webhookEvent, string eventId)
    {
        ArgumentNullException.ThrowIfNull(webhookEvent);
        ArgumentException.ThrowIfNullOrEmpty(eventId);
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("event_id", eventId);
            writer.WriteString("event", webhookEvent.Event);
            writer.WriteString("timestamp", WireTime.Format(webhookEvent.Timestamp));
            writer.WriteString("session_id", webhookEvent.SessionId);
            writer.WritePropertyName("data");
            if (webhookEvent.Data.ValueKind == JsonValueKind.Undefined)
            {
                writer.WriteStartObject();
                writer.WriteEndObject();
            }
            else
            {
                webhookEvent.Data.WriteTo(writer);
            }

            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
