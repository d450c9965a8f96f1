using System;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tasks.Azure;

/// <summary>
/// What a message in a <c>&lt;queue&gt;-poison</c> queue holds: JSON, readable in any storage
/// explorer, with the reason and the original message text, which can be sent back to its queue.
/// </summary>
/// <param name="Queue">The queue the message came from.</param>
/// <param name="MessageId">The original message id.</param>
/// <param name="Attempt">Deliveries of the original message (its dequeue count).</param>
/// <param name="Reason">Why it was dead-lettered.</param>
/// <param name="ExceptionType">The exception that ended the task, if any.</param>
/// <param name="ExceptionMessage">Its message.</param>
/// <param name="DeadLetteredAt">When.</param>
/// <param name="MessageText">The original message text exactly as it was queued (base64 of the envelope), or null if it was too large to fit beside the reason.</param>
/// <param name="MessageTextId">When <paramref name="MessageText"/> did not fit: the id of the poison message that holds it alone.</param>
public sealed record PoisonMessage(
    string Queue,
    string MessageId,
    int Attempt,
    string Reason,
    string? ExceptionType,
    string? ExceptionMessage,
    DateTimeOffset DeadLetteredAt,
    string? MessageText,
    string? MessageTextId = null)
{
    /// <summary>The JSON text stored in the poison queue.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, PoisonMessageJson.Default.PoisonMessage);

    /// <summary>Reads a poison queue message written by this library.</summary>
    public static PoisonMessage Parse(string json)
        => JsonSerializer.Deserialize(json, PoisonMessageJson.Default.PoisonMessage) ?? throw new FormatException("The poison message is empty.");
}

/// <summary>The poison record's JSON, written by System.Text.Json's source generator: no reflection, so a native AOT worker dead-letters too.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(PoisonMessage))]
internal sealed partial class PoisonMessageJson : JsonSerializerContext;
