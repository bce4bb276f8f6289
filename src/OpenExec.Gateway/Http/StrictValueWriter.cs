using System.Text.Json;
using OpenExec.Core.Json;

namespace OpenExec.Gateway.Http;

/// <summary>Writes a strict value as ordinary JSON, numbers exactly as they were written.</summary>
internal static class StrictValueWriter
{
    public static void Write(Utf8JsonWriter writer, StrictValue value)
    {
        switch (value)
        {
            case StrictObject obj:
                writer.WriteStartObject();
                // By index: a foreach over the interface allocates an enumerator per value.
                for (var i = 0; i < obj.Properties.Count; i++)
                {
                    writer.WritePropertyName(obj.Properties[i].Key);
                    Write(writer, obj.Properties[i].Value);
                }
                writer.WriteEndObject();
                break;
            case StrictArray array:
                writer.WriteStartArray();
                for (var i = 0; i < array.Items.Count; i++)
                {
                    Write(writer, array.Items[i]);
                }
                writer.WriteEndArray();
                break;
            case StrictString s:
                writer.WriteStringValue(s.Value);
                break;
            case StrictNumber n:
                writer.WriteRawValue(n.Literal, skipInputValidation: true);
                break;
            case StrictLiteral l when ReferenceEquals(l, StrictLiteral.Null):
                writer.WriteNullValue();
                break;
            case StrictLiteral l:
                writer.WriteBooleanValue(ReferenceEquals(l, StrictLiteral.True));
                break;
        }
    }
}
